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

from dataclasses import dataclass, field
from typing import Any

from dvault import datasheet, gitlink, lineage, signing, stats, verdict
from dvault.environment import Recorded
from dvault.environment import load as load_environment
from dvault.errors import DvaultError, UsageError
from dvault.pins import Pin, as_json, read_at_git_rev
from dvault.reachability import walk
from dvault.remote.backend import RemoteSpec
from dvault.remote.session import Remote, remote_specs
from dvault.repository import Repository
from dvault.verify import verify_remote_objects


@dataclass
class RemoteCheck:
    name: str
    url: str
    status: str  # complete | incomplete | damaged | unreachable
    objects: int = 0
    missing: int = 0
    damaged: int = 0
    detail: str = ""


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

    @property
    def datasheets_complete(self) -> bool:
        return self.datasheets is not None and all(d.get("complete") for d in self.datasheets)

    @property
    def reproducible(self) -> bool:
        return any(r.status == "complete" for r in self.remotes)

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
        }


def _check_remote(
    repo: Repository, spec: RemoteSpec, commit: bytes, read_data: bool
) -> RemoteCheck:
    check = RemoteCheck(spec.name, spec.url, "unreachable")
    try:
        remote = Remote(repo, spec)
        remote.log.load()  # refuses a rewritten or truncated log; follows no ref, saves nothing
        remote.refresh_catalog()
        found = walk(remote.read_object, remote.catalog.type_of, [commit])
    except DvaultError as exc:
        check.detail = str(exc)
        return check
    check.objects = len(found.objects)
    check.missing = len(found.missing)
    if check.missing:
        check.status = "incomplete"
        oid, path = next(iter(found.missing.items()))
        check.detail = f"{check.missing} object(s) missing, e.g. {oid.hex()[:12]} ({path})"
        return check
    if read_data:
        problems = verify_remote_objects(remote, found)
        if problems:
            check.status, check.damaged, check.detail = "damaged", len(problems), problems[0]
            return check
    check.status = "complete"
    return check


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
    for spec in remote_specs(repo).values():
        result.remotes.append(_check_remote(repo, spec, commit, read_data))
    if repo.store.has(commit):
        result.datasheets, result.stats = _describe(repo, commit)
    return result


def _describe(repo: Repository, commit: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pinned roots' datasheets and statistics (changes: since the first parent). A
    datasheet that is not valid is reported, not raised: the review goes on."""
    pinned = repo.read_commit(commit)
    sheets: list[dict[str, Any]] = []
    for root in sorted(pinned.roots):
        try:
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
