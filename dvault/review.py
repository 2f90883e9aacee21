"""``dvault review``: answer a reproducibility review for one git revision.

Which data, labels and checkpoints did this code use (the ``dvault.lock`` pin), where did
they come from (lineage), in what environment (dvault/environment.py), are they signed,
and can they be restored: for each remote, is every object the pinned version needs
present (and, with ``read_data``, intact)? The revision is reproducible when at least one
remote holds everything.

The report quotes what others wrote (messages, meta, signer names, remote names and URLs
from the committed config, errors a remote caused): every such string is escaped for the
format it lands in (dvault/textsafe.py) as the report is rendered (dvault/reviewdoc.py and
dvault/reviewrender.py: Markdown and HTML; this module is the model and its JSON).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dvault import datasheet, gitlink, lineage, reruns, reviewaltered, signing, stats, verdict
from dvault.environment import Recorded
from dvault.environment import load as load_environment
from dvault.errors import DvaultError, UsageError
from dvault.hashing import ObjectType
from dvault.names import root_problem
from dvault.pins import Pin, as_json, read_at_git_rev
from dvault.reachability import walk
from dvault.remote.backend import RemoteSpec
from dvault.remote.catalog import pack_key
from dvault.remote.kept import remote_kept
from dvault.remote.redaction import redactions
from dvault.remote.session import Remote, remote_specs
from dvault.repository import Repository
from dvault.store import erased
from dvault.trees import lookup
from dvault.verify import verify_remote_objects


@dataclass
class RemoteCheck:
    name: str
    url: str
    status: str  # complete | incomplete | damaged | unreachable
    objects: int = 0
    missing: int = 0
    damaged: int = 0
    redacted: int = 0
    """Objects the pinned data needs that a redaction erased on purpose (dvault redact):
    not missing; the remote is complete without them."""
    detail: str = ""
    lock: str = ""
    """How the storage protects what dvault wrote, in words (``Backend.lock``)."""
    packs: int = 0
    """Packs holding what the pinned commit needs (counted on a complete remote)."""
    locked_packs: int = 0
    """Of those, how many the storage reports under a retention lock."""
    lock_mode: str | None = None
    """The lock mode those packs carry (``COMPLIANCE``; ``mixed`` when they differ)."""
    retain_until: str | None = None
    """The earliest retain-until date among the locked packs (ISO 8601, UTC)."""


@dataclass
class Review:
    git_rev: str
    git_commit: str
    pin: Pin
    lineage: dict[str, Any] | None
    signature: dict[str, Any]
    """Status of the pinned commit's signature: good, bad, unknown (signer), unsigned, or
    not-local (the commit is not in the local store, so it could not be checked)."""
    signature_text: str
    """The signature status in words (plain text: the renderers escape it)."""
    remotes: list[RemoteCheck] = field(default_factory=list)
    environment: Recorded | None = None
    """The environment the pinned commit records (None: the commit is not local)."""
    datasheets: list[dict[str, Any]] | None = None
    """Each pinned root's datasheet as committed (``Datasheet.to_json``, or ``{root,
    error}`` for one that is not valid); None when the pinned commit is not local."""
    stats: dict[str, Any] | None = None
    """``Stats.to_json`` of the pinned commit against its first parent; None when the
    pinned commit is not local."""
    meta: dict[str, Any] | None = None
    """The pinned commit's meta as committed (attacker input: the checks read it with
    care); None when the pinned commit is not local."""
    pushed: dict[str, gitlink.Pushed] = field(default_factory=dict)
    """For the reviewed git commit, and the one the run recorded when it differs: the
    git remotes and the remote-tracking refs that reach it."""
    code_problem: str = ""
    """Why the git remotes could not be read ("" when they could)."""
    rerun: reruns.Record | None = None
    """The last rerun of the pinned commit on this machine (dvault/reruns.py)."""
    rerun_problem: str = ""
    """Why the rerun record was refused ("" when there is none or it is valid)."""
    required: list[str] = field(default_factory=list)
    """The checks ``--require`` names (empty: none asked for)."""
    altered: list[reviewaltered.Altered] = field(default_factory=list)
    """The reviewed revisions (pinned commit, its inputs) a redaction altered."""
    released: list[reviewaltered.Released] = field(default_factory=list)
    """The reviewed revisions whose contents a forget released, per remote."""

    @property
    def required_failed(self) -> list[str]:
        """The required checks that did not pass."""
        return [c.name for c in verdict.failing(self.checks, self.required)]

    @property
    def exit_ok(self) -> bool:
        """The command's exit status: with ``--require``, every required check passed;
        without, :attr:`passed`. A bad signature fails either way."""
        if not self.required:
            return self.passed
        return not self.required_failed and self.signature["status"] != "bad"

    @property
    def datasheets_complete(self) -> bool:
        return self.datasheets is not None and all(d.get("complete") for d in self.datasheets)

    @property
    def reproducible(self) -> bool:
        """The data_recoverable check: a remote holds every object the pinned data needs,
        and no redaction erased part of it or of an input it was derived from."""
        return any(r.status == "complete" for r in self.remotes) and not self.altered

    @property
    def passed(self) -> bool:
        """Reproducible, and no forged signature (a bad signature always fails)."""
        return self.reproducible and self.signature["status"] != "bad"

    @property
    def checks(self) -> list[verdict.Check]:
        """The named checks of the verdict (dvault/verdict.py), in report order."""
        return verdict.checks(self)

    def to_json(self) -> dict[str, Any]:
        checks = self.checks
        return {
            "checks": [c.to_json() for c in checks],
            "verdict": verdict.verdict(checks),
            "required": self.required,
            "required_failed": [c.name for c in verdict.failing(checks, self.required)],
            "git_rev": self.git_rev,
            "git_commit": self.git_commit,
            "data": as_json(self.pin),
            "lineage": self.lineage,
            "signature": self.signature,
            "remotes": [vars(r) for r in self.remotes],
            "environment": self.environment.to_json() if self.environment else None,
            "reproducible": self.reproducible,
            "datasheets": self.datasheets,
            "datasheets_complete": self.datasheets_complete,
            "stats": self.stats,
            "code": {
                "commits": [
                    {"commit": sha, "remotes": list(p.remotes), "refs": list(p.refs)}
                    for sha, p in self.pushed.items()
                ],
                "problem": self.code_problem or None,
            },
            "rerun": {
                "record": self.rerun.to_json() if self.rerun else None,
                "problem": self.rerun_problem or None,
            },
            "altered": [a.to_json() for a in self.altered],
            "released": [r.to_json() for r in self.released],
        }


class _Absent(DvaultError):
    """A commit or tree the pinned data needs is not on the remote."""


def _check_remote(
    repo: Repository,
    spec: RemoteSpec,
    commit: bytes,
    read_data: bool,
    reviewed: list[tuple[str, str]],
) -> tuple[RemoteCheck, reviewaltered.RemoteLog | None]:
    check = RemoteCheck(spec.name, spec.url, "unreachable")
    try:
        remote = Remote(repo, spec)
        # the whole log, so a redaction or forget before this clone's last position
        # counts too; refuses a rewritten, truncated or forged log; follows no ref
        view, kept = remote_kept(remote)
        remote.refresh_catalog()
    except DvaultError as exc:
        check.detail = str(exc)
        return check, None
    logged, _ = redactions(view, set(signing.trusted_signers(repo.root).names))
    log = reviewaltered.RemoteLog(logged, kept)
    log.released = reviewaltered.releases(
        kept, reviewed, remote.read_object, remote.catalog.type_of
    )

    def read(oid: bytes) -> tuple[ObjectType, bytes]:
        if not remote.catalog.locations(oid):  # a commit or tree not there (a prune)
            raise _Absent(f"object {oid.hex()[:12]} (a commit or tree of it) is missing")
        return remote.read_object(oid)

    try:
        found = walk(read, remote.catalog.type_of, [commit])
    except _Absent as exc:
        check.status, check.missing, check.detail = "incomplete", 1, str(exc)
        return check, log
    except DvaultError as exc:
        check.detail = str(exc)
        return check, log
    # erased on purpose, here or by a trusted redaction on this remote: not missing
    gone = set(erased.erased(repo.dir)) | {o for item in logged for o in item.record.objects}
    for oid in [o for o in found.missing if o in gone]:
        del found.missing[oid]
        check.redacted += 1
    check.objects = len(found.objects)
    check.missing = len(found.missing)
    if check.missing:
        check.status = "incomplete"
        oid, path = next(iter(found.missing.items()))
        check.detail = f"{check.missing} object(s) missing, e.g. {oid.hex()[:12]} ({path})"
        return check, log
    if read_data:
        problems = verify_remote_objects(remote, found)
        if problems:
            check.status, check.damaged, check.detail = "damaged", len(problems), problems[0]
            return check, log
    check.status = "complete"
    _lock_facts(check, remote, found.objects)
    return check, log


MAX_RETENTION_CHECKS = 256
"""Most packs whose retention a review asks the storage about (one request each)."""


def _lock_facts(check: RemoteCheck, remote: Remote, objects: Iterable[bytes]) -> None:
    """What protects the packs holding ``objects`` from deletion: the storage's words,
    then each pack's lock as the storage reports it (S3 Object Lock: mode and
    retain-until); the earliest date is the one that counts."""
    try:
        check.lock = remote.backend.lock()
        packs = {found[0] for oid in objects if (found := remote.catalog.locate(oid))}
        check.packs = len(packs)
        modes: set[str] = set()
        dates: list[str] = []
        for pack in sorted(packs)[:MAX_RETENTION_CHECKS]:
            held = remote.backend.retention(pack_key(pack))
            if held is None:
                return  # this storage has no retention locks at all
            if held.mode and held.until:
                modes.add(held.mode)
                dates.append(held.until)
    except DvaultError as exc:
        check.detail = f"retention not read: {exc}"
        return
    check.locked_packs = len(dates)
    check.lock_mode = (modes.pop() if len(modes) == 1 else "mixed") if modes else None
    check.retain_until = min(dates) if dates else None


def review(repo: Repository, git_rev: str = "HEAD", read_data: bool = False) -> Review:
    git_commit = gitlink.resolve(repo.root, git_rev)
    pin = read_at_git_rev(repo, git_commit)
    if pin is None:
        raise UsageError(f"git revision {git_rev} has no dvault.lock: no data is pinned there")
    commit = bytes.fromhex(pin.commit)
    graph = None
    if repo.store.has(commit):
        graph = lineage.to_json(lineage.build(repo, pin.commit))
    if repo.store.has(commit):
        check = signing.check_object(repo, commit, signing.trusted_signers(repo.root))
        signature, text = check.to_json(), check.describe()
    else:
        signature = {"status": "not-local", "signer": None, "key": None, "fingerprint": None}
        text = "not checked: the pinned commit is not in the local store (dvault fetch)"
    result = Review(git_rev, git_commit, pin, graph, signature, text)
    if repo.store.has(commit):
        meta = repo.read_commit(commit).meta
        result.environment = load_environment(repo.store.get_raw, repo.store.type_of, meta)
    logs: dict[str, reviewaltered.RemoteLog] = {}
    reviewed = reviewaltered.reviewed(pin.commit, graph)
    for spec in remote_specs(repo).values():
        remote_check, log = _check_remote(repo, spec, commit, read_data, reviewed)
        result.remotes.append(remote_check)
        if log is not None:
            logs[spec.name] = log
    result.altered = reviewaltered.altered(repo, reviewed, logs, read_data)
    result.released = [
        reviewaltered.Released(c, role, name, release)
        for c, role in reviewed
        for name, log in logs.items()
        if (release := log.released.get(c)) is not None
    ]
    for held in result.remotes:  # missing because a forget released it, not damage
        gone = [x for x in result.released if x.remote == held.name and x.role == "pinned"]
        if gone and held.status == "incomplete":
            held.detail = f"its contents were {gone[0].release.describe()}; {held.detail}"
    if repo.store.has(commit):
        result.datasheets, result.stats = _describe(repo, commit)
        result.meta = dict(repo.read_commit(commit).meta)
        _rerun_facts(repo, result)
    _code_facts(repo, result)
    return result


_GIT_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _code_facts(repo: Repository, result: Review) -> None:
    """Whether the reviewed git commit, and the one the run recorded (when it is another),
    are on a git remote (as this clone's remote-tracking refs last saw it)."""
    shas = [result.git_commit]
    git = (result.meta or {}).get("git")
    recorded = git.get("commit") if isinstance(git, dict) else None
    if isinstance(recorded, str) and _GIT_SHA.fullmatch(recorded) and recorded not in shas:
        shas.append(recorded)
    try:
        for sha in shas:
            result.pushed[sha] = gitlink.pushed(repo.root, sha)
    except DvaultError as exc:
        result.code_problem = str(exc)


def _rerun_facts(repo: Repository, result: Review) -> None:
    """The pinned commit's rerun record, checked against the commit itself: the outputs
    it names must be the ones the run recorded, with the ids the commit holds (a
    record copied from elsewhere or edited is refused, never counted)."""
    commit = result.pin.commit
    try:
        record = reruns.read(repo.dir, commit)
    except reruns.RecordInvalid as exc:
        result.rerun_problem = str(exc)
        return
    if record is None:
        return
    run = (result.meta or {}).get("run")
    outputs = run.get("outputs") if isinstance(run, dict) else None
    tree = repo.read_commit(bytes.fromhex(commit)).tree
    try:
        actual = {o.path: _recorded_id(repo, tree, o.path) for o in record.outputs}
    except DvaultError as exc:
        result.rerun_problem = f"the rerun record's outputs cannot be looked up: {exc}"
        return
    if outputs != [o.path for o in record.outputs] or any(
        actual[o.path] != o.recorded for o in record.outputs
    ):
        result.rerun_problem = (
            f"the rerun record of {commit[:12]} names outputs or ids that commit does not "
            "record; not counted"
        )
        return
    result.rerun = record


def _recorded_id(repo: Repository, tree: bytes, path: str) -> str | None:
    if path == ".":
        return tree.hex()
    if root_problem(path, "dataset") is not None:
        raise UsageError(f"output {path[:80]!r} is not a project path")
    entry = lookup(repo.store, tree, path.encode())
    return entry.id.hex() if entry is not None else None


def _no_datasheet_needed(root: str) -> dict[str, Any]:
    """A root that is one file cannot hold ``datasheet.toml``: it is described by the
    datasheet of the data it was made from, so none is asked of it (``exempt`` says why)."""
    return {
        "root": root,
        "file": None,
        "found": False,
        "fields": {},
        "missing": [],
        "unknown": [],
        "complete": True,
        "exempt": "a single file cannot hold one",
    }


def _describe(repo: Repository, commit: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pinned roots' datasheets and statistics (changes: since the first parent). A
    datasheet that is not valid is reported, not raised: the review goes on."""
    pinned = repo.read_commit(commit)
    sheets: list[dict[str, Any]] = []
    for root in sorted(pinned.roots):
        try:
            entry = lookup(repo.store, pinned.tree, os.fsencode(root))
            if entry is not None and not entry.is_dir:  # a single-file root (a checkpoint)
                sheets.append(_no_datasheet_needed(root))
                continue
            sheet = datasheet.read_committed(repo, commit, root, commit.hex()[:12])
            sheets.append(sheet.to_json())
        except DvaultError as exc:  # not valid, or a tree object missing or damaged
            sheets.append({"root": root, "error": str(exc), "complete": False})
    first = pinned.parents[0] if pinned.parents else None
    since = first.hex() if first is not None and repo.store.has(first) else None  # shallow
    try:
        # two levels: the class folders of data/images/<class>/ as well as data/<class>/
        return sheets, stats.compute(repo, commit.hex(), since, depth=2).to_json()
    except DvaultError as exc:  # the first parent or a tree is missing or damaged
        return sheets, {"error": str(exc), "roots": [], "since_commit": since}
