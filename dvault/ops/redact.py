"""``dvault redact``: erase paths' contents from every kept commit, keeping commit ids.

The local side (record in ``.dvault/erased.json``, repack the local packs without the
objects) is :mod:`dvault.maintenance.redact`; the signed ``redact`` entry in a remote's
ref log is :mod:`dvault.remote.redaction`. See docs/retention.md, "Erasure: dvault
redact", for the design and what an auditor sees afterwards.

Order with ``--remote``: check the remote's refs are all here (an object a commit pushed
by someone else shares must not be erased), sign and append the entry, then erase
locally. A failure before the append changes nothing; after it, the local erasure is
what a rerun completes.
"""

from __future__ import annotations

from dataclasses import dataclass

from dvault.errors import UsageError
from dvault.identity import author
from dvault.maintenance import redact as local
from dvault.remote.logsign import push_signer
from dvault.remote.redaction import append_redaction
from dvault.remote.session import Remote, pick_remote
from dvault.repository import Repository
from dvault.store.erased import Redaction


@dataclass
class RedactReport:
    plan: local.RedactPlan
    record: Redaction | None = None
    """What was recorded (None: a dry run)."""
    remote: str | None = None
    log_seq: int | None = None
    """The position of the signed redact entry in the remote's ref log."""


def redact(
    repo: Repository,
    paths: list[str],
    reason: str,
    revs: list[str] | None = None,
    dry_run: bool = False,
    remote_name: str | None = None,
) -> RedactReport:
    """Plan the redaction of ``paths`` (project-relative) and, unless ``dry_run``, apply
    it under the writer lock; with ``remote_name`` also append a signed redact entry to
    that remote's ref log (a signing key is required: ``dvault key generate``)."""
    local.validate_reason(reason)
    with repo.locked():
        remote = None
        extra: list[bytes] = []
        if remote_name is not None:
            remote = Remote(repo, pick_remote(repo, remote_name))
            view = remote.log.load()
            remote.log.check(view)
            for ref, value in sorted(view.refs.items()):
                commit = bytes.fromhex(value)
                if repo.store.type_of(commit) is None:
                    raise UsageError(
                        f"remote {remote_name}: {ref} is at a commit this clone lacks; "
                        "fetch it first, so no object it shares is erased"
                    )
                extra.append(commit)
        plan = local.plan(repo, paths, revs, tuple(extra))
        report = RedactReport(plan, remote=remote_name)
        if dry_run:
            return report
        record = local.record_for(repo, plan, reason)
        if remote is not None:
            signer = push_signer(repo, True)
            assert signer is not None  # sign=True: a key, or SignatureError
            report.log_seq = append_redaction(
                remote.log, record, signer, author(repo.config, repo.root)
            )
        report.record = local.apply(repo, plan, record)
        return report
