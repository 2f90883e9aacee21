"""Secrets in a command line, redacted before it is recorded in a commit.

Every commit records the dvault command line (``meta.command``) and ``dvault run``
records the command it ran (``meta.run.command``, and the default message ``run: ...``).
A commit is pushed to remotes and read by everyone who can read them, so a token on a
command line (``--token ghp_...``, ``AWS_SECRET_ACCESS_KEY=... python train.py``,
``https://user:pass@host``) would be published. :func:`redact_argv` replaces the secret
part of such arguments with :data:`REDACTED` before anything is recorded; the command
itself runs with its real arguments.

What is recognised (docs/lineage.md lists it for users):

* an option whose name has a secret word as a component (``--password``, ``--db-pass``,
  ``--api-key``, ``--token``, ``--client-secret``, ``--auth``; not ``--token-file`` or
  ``--no-auth``): its ``=value``, or the next argument;
* ``NAME=value`` where NAME is such a name (``AWS_SECRET_ACCESS_KEY=``, ``HF_TOKEN=``),
  anywhere in an argument, so ``sh -c "TOKEN=x make"`` is covered;
* the password of a URL (``scheme://user:<redacted>@host``);
* ``Authorization:``, ``Proxy-Authorization:``, ``Cookie:``, ``X-Api-Key:`` and
  ``X-Auth-Token:`` header values;
* well-known token formats anywhere: AWS access key ids (``AKIA``/``ASIA``), GitHub
  (``ghp_``, ``gho_``, ``ghs_``, ``ghu_``, ``ghr_``, ``github_pat_``), GitLab (``glpat-``),
  Hugging Face (``hf_``), Slack (``xox?-``), OpenAI-style ``sk-`` keys, Google ``AIza``
  keys, JSON web tokens and PEM private keys.

Not recognised: a secret passed positionally or glued to a short option (``mysql
-pSECRET``; ``-p`` means port or parents as often). Pass secrets in the environment or a
file, never on the command line: environment variables are not recorded.

The rule is the one restic and borg follow for their own command lines (a repository
password never appears in argv: it comes from the environment or a file), applied to the
commands dvault records: what a command line reveals is published, so dvault strips what
it can recognise and documents the rest.
"""

from __future__ import annotations

import re
from itertools import pairwise

REDACTED = "<redacted>"
"""What a redacted value is replaced with. ``rerun`` refuses a command containing it."""

_WORDS = frozenset(
    {
        "auth",
        "authorization",
        "credential",
        "credentials",
        "pass",
        "passphrase",
        "passwd",
        "password",
        "pwd",
        "secret",
        "secrets",
        "token",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "sessionkey",
        "signingkey",
    }
)
"""A name component that marks a secret. ``key`` alone does not (``--sort-key``,
``--key NAME``); ``api``+``key`` and the like do, joined."""

_NOT_A_VALUE = frozenset({"file", "path", "dir", "env", "var", "name", "id", "length", "len"})
"""A last component that names where a secret is, not the secret (``--token-file``)."""


def _secret_name(name: str) -> bool:
    """True for an option or variable name that announces a secret value."""
    parts = [p for p in re.split(r"[-_.]", name.lower()) if p]
    if not parts or parts[0] == "no" or parts[-1] in _NOT_A_VALUE:
        return False
    joined = [a + b for a, b in pairwise(parts)]
    return any(p in _WORDS for p in parts) or any(j in _WORDS for j in joined)


_TOKENS = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|gh[pousr]_[A-Za-z0-9]{30,255}"
    r"|github_pat_[A-Za-z0-9_]{22,255}"
    r"|glpat-[A-Za-z0-9_-]{20,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|sk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{20,}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"
    r")",
    re.DOTALL,
)
_URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):([^/\s@]+)@")
_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization|cookie|x-api-key|x-auth-token)(\s*:\s*)([^'\"\n]+)"
)
_ASSIGNMENT = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z_][A-Za-z0-9_]*)=('[^']*'|\"[^\"]*\"|\S+)")
_OPTION_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9_-])(--?[A-Za-z][A-Za-z0-9_.-]*)(=|\s+)('[^']*'|\"[^\"]*\"|[^\s'\"-]\S*)"
)
_OPTION = re.compile(r"--?([A-Za-z][A-Za-z0-9_.-]*)(?:=(.*))?", re.DOTALL)


def _redact_text(text: str) -> str:
    """Secrets inside one argument (which may itself be a shell command line)."""
    text = _TOKENS.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    text = _HEADER.sub(rf"\1\2{REDACTED}", text)
    text = _ASSIGNMENT.sub(
        lambda m: f"{m.group(1)}={REDACTED}" if _secret_name(m.group(1)) else m.group(0), text
    )
    return _OPTION_IN_TEXT.sub(
        lambda m: (
            f"{m.group(1)}{m.group(2)}{REDACTED}"
            if _secret_name(m.group(1).lstrip("-"))
            else m.group(0)
        ),
        text,
    )


def redact_argv(argv: list[str]) -> list[str]:
    """``argv`` with every secret it recognisably holds replaced by :data:`REDACTED`."""
    out: list[str] = []
    value_next = False
    for arg in argv:
        if value_next and not arg.startswith("--"):
            out.append(REDACTED)
            value_next = False
            continue
        value_next = False
        option = _OPTION.fullmatch(arg)
        if option is not None and _secret_name(option.group(1)):
            if option.group(2) is None:
                value_next = True
                out.append(arg)
            else:
                out.append(arg[: option.start(2)] + REDACTED)
            continue
        out.append(_redact_text(arg))
    return out


def redacted_positions(argv: list[str]) -> list[int]:
    """Positions of the arguments holding :data:`REDACTED` (a recorded command that
    cannot be run again as it was)."""
    return [i for i, arg in enumerate(argv) if REDACTED in arg]


__all__ = ["REDACTED", "redact_argv", "redacted_positions"]
