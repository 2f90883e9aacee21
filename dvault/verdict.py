"""The review's verdict as named checks (issue 21).

"Reproducible" is what an auditor reads as "the model can be re-created", so it is the
conjunction of named checks, each ``pass``, ``fail`` or ``not recorded`` with the reason in
words and, unless it passed, the exact command that fixes it. ``dvault review --require
CHECK,...`` fails (exit 1) on the checks a team demands.

Contract (the renderers and the JSON schema in docs/ depend on it):
``Check.to_json() == {"name", "title", "status", "reason", "fix"}`` with ``status`` one of
``STATUSES`` and ``fix`` None when the check passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PASS, FAIL, NOT_RECORDED = "pass", "fail", "not recorded"
STATUSES = (PASS, FAIL, NOT_RECORDED)

CHECKS: dict[str, str] = {
    "data_recoverable": "Data recoverable from a remote",
    "code_pushed": "Code committed and pushed",
    "worktree_clean": "Work tree clean at run time",
    "environment_captured": "Environment captured",
    "rerun_verified": "Rerun verified",
    "signed": "Signed by a trusted signer",
    "datasheet_complete": "Datasheets complete",
}
"""Every check by name, in report order, with its title."""


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    reason: str
    """Why, in words (plain text: renderers escape it)."""
    fix: str | None = None
    """The exact command (or step) that makes it pass; None when it passed."""

    @property
    def title(self) -> str:
        return CHECKS[self.name]

    def to_json(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "fix": self.fix,
        }


class Facts(Protocol):
    """What the checks read of a review (``dvault.review.Review`` provides it; a Protocol
    so this module does not import the review)."""

    @property
    def reproducible(self) -> bool: ...

    @property
    def datasheets_complete(self) -> bool: ...

    signature: dict[str, str | None]


def checks(r: Facts) -> list[Check]:
    """Every check of ``CHECKS`` for the review, in order. (Skeleton: only
    data_recoverable and datasheet_complete are computed; the others are built in
    issue 21's part V.)"""
    out: list[Check] = []
    if r.reproducible:
        out.append(Check("data_recoverable", PASS, "a remote holds every object"))
    else:
        out.append(
            Check(
                "data_recoverable",
                FAIL,
                "no remote holds every object the pinned data needs",
                "dvault push",
            )
        )
    for name in ("code_pushed", "worktree_clean", "environment_captured", "rerun_verified"):
        out.append(Check(name, NOT_RECORDED, "not checked yet", "(to be built)"))
    signed = r.signature.get("status") == "good"
    out.append(
        Check("signed", PASS, "signed by a trusted signer")
        if signed
        else Check("signed", NOT_RECORDED, "not signed", "dvault commit --sign")
    )
    if r.datasheets_complete:
        out.append(Check("datasheet_complete", PASS, "every pinned root has a complete one"))
    else:
        out.append(
            Check("datasheet_complete", FAIL, "missing or incomplete", "dvault datasheet init ROOT")
        )
    return out


def verdict(results: list[Check]) -> str:
    """``reproducible`` only when every check passed."""
    return "reproducible" if all(c.status == PASS for c in results) else "not reproducible"
