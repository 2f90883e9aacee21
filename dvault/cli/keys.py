"""``dvault key generate|list|export``: your signing keys, which live outside any
repository (so these commands open none)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dvault.cli.common import Invocation, JsonOpt, with_invocation

if TYPE_CHECKING:
    from dvault.signing import KeyInfo


def register(app: typer.Typer) -> None:
    key_app = typer.Typer(
        help="Your ed25519 signing keys (kept outside any repository, mode 0600).\n\n"
        "\b\nExamples:\n"
        "  dvault key generate && dvault key export >> .dvaultsigners  # then git commit it\n"
        "  dvault key list --json",
        no_args_is_help=True,
    )
    app.add_typer(key_app, name="key")
    key_app.command("generate")(key_generate)
    key_app.command("list")(key_list)
    key_app.command("export")(key_export)


def _key_json(info: KeyInfo) -> dict[str, object]:
    return {**info.to_json(), "signer_line": info.signer_line}


@with_invocation()
def key_generate(
    inv: Invocation,
    name: Annotated[str, typer.Argument(help="Key name.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Create a new signing key (an existing key is never overwritten).

    \b
    Examples:
      dvault key generate                  # the key named "default"
      dvault key generate laptop
    """
    from dvault import signing  # deferred: signing pulls in blake3

    info = signing.generate(name)
    if as_json:
        inv.out.json(_key_json(info))
        return
    inv.out.message(f"created key {info.name} ({info.fingerprint}) in {info.path}")
    inv.out.message(
        f"to trust it in a project, add this line to {signing.SIGNERS_FILE} and commit it "
        f"to git (or, for yourself only, to {signing.allowed_signers_path()}):"
    )
    inv.out.message(info.signer_line)


@with_invocation()
def key_list(inv: Invocation, as_json: JsonOpt = False) -> None:
    """List your signing keys with their fingerprints.

    \b
    Examples:
      dvault key list
      dvault key list --json
    """
    from dvault import signing  # deferred: signing pulls in blake3

    keys = signing.list_keys()
    if as_json:
        inv.out.json([_key_json(k) for k in keys])
        return
    for k in keys:
        inv.out.data(f"{k.name:20} {k.fingerprint}  {k.path}")


@with_invocation()
def key_export(
    inv: Invocation,
    name: Annotated[str | None, typer.Argument(help="Key name (default: your only key).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a public key as a line of a trusted-signers file.

    A key is trusted when its line is in .dvaultsigners *committed to git* (HEAD's
    commit, read from git's objects: a copy only in the work tree counts for nothing),
    or in your own allowed_signers file in your dvault config directory.

    \b
    Examples:
      dvault key export >> .dvaultsigners && git add .dvaultsigners && git commit
      dvault key export >> ~/.config/dvault/allowed_signers   # trusted by you only
      dvault key export laptop --json
    """
    from dvault import signing  # deferred: signing pulls in blake3

    info, _ = signing.load_key(name)
    if as_json:
        inv.out.json(_key_json(info))
        return
    inv.out.data(info.signer_line)
