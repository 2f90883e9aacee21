"""``dvault redact``: erase paths' contents from every kept commit, keeping commit ids.

The local side (record in ``.dvault/erased.json``, repack the local packs without the
objects) is :mod:`dvault.maintenance.redact`; see docs/retention.md, "Erasure: dvault
redact", for the design and what an auditor sees afterwards.
"""

from __future__ import annotations

from dvault.maintenance import redact as local
from dvault.repository import Repository
from dvault.store.erased import Redaction


def redact(
    repo: Repository,
    paths: list[str],
    reason: str,
    revs: list[str] | None = None,
    dry_run: bool = False,
) -> tuple[local.RedactPlan, Redaction | None]:
    """Plan the redaction of ``paths`` (project-relative) and, unless ``dry_run``, apply
    it under the writer lock. Returns the plan and the recorded redaction (None when dry)."""
    local.validate_reason(reason)
    with repo.locked():
        plan = local.plan(repo, paths, revs)
        if dry_run:
            return plan, None
        return plan, local.apply(repo, plan, reason)
