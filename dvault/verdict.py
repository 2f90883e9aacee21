"""The review's verdict as named checks (issue 21).

"Reproducible" is what an auditor reads as "the model can be re-created", so it is the
conjunction of named checks, each ``pass``, ``fail`` or ``not recorded`` with the reason in
words and, unless it passed, the exact command that fixes it. ``dvault review --require
CHECK,...`` fails (exit 1) on the checks a team demands.

Contract (the renderers and the JSON schema in docs/ depend on it):
``Check.to_json() == {"name", "title", "status", "reason", "fix"}`` with ``status`` one of
``STATUSES`` and ``fix`` None when the check passed.

Every fact a check reads comes from the review (:class:`Facts`): the pinned commit's meta,
signature and datasheets are attacker input (anyone who can push wrote them), so each is
read for its exact type and anything else counts as not recorded, never as a pass. The
reasons and fixes are plain text holding quoted values: the renderers escape them.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dvault.environment import Recorded
from dvault.errors import UsageError
from dvault.gitlink import Pushed
from dvault.reruns import Record

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


class RemoteFacts(Protocol):
    """What the checks read of one remote (``dvault.review.RemoteCheck``)."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def detail(self) -> str: ...
    @property
    def lock(self) -> str: ...
    @property
    def packs(self) -> int: ...
    @property
    def locked_packs(self) -> int: ...
    @property
    def lock_mode(self) -> str | None: ...
    @property
    def retain_until(self) -> str | None: ...
    @property
    def redacted(self) -> int: ...


class ErasureFacts(Protocol):
    """One redaction of a reviewed revision (``dvault.reviewaltered.Erasure``)."""

    def describe(self) -> str: ...


class AlteredFacts(Protocol):
    """A reviewed revision a redaction altered (``dvault.reviewaltered.Altered``)."""

    @property
    def commit(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def erasures(self) -> Sequence[ErasureFacts]: ...
    def rest_brief(self) -> str: ...


class ReleasedFacts(Protocol):
    """A reviewed revision a forget released on a remote (``reviewaltered.Released``)."""

    @property
    def commit(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def remote(self) -> str: ...


class PinFacts(Protocol):
    @property
    def commit(self) -> str: ...


class Facts(Protocol):
    """What the checks read of a review (``dvault.review.Review`` provides it; a Protocol
    so this module does not import the review)."""

    @property
    def git_commit(self) -> str: ...
    @property
    def pin(self) -> PinFacts: ...
    @property
    def remotes(self) -> Sequence[RemoteFacts]: ...
    @property
    def signature(self) -> Mapping[str, Any]: ...
    @property
    def meta(self) -> Mapping[str, Any] | None: ...
    @property
    def environment(self) -> Recorded | None: ...
    @property
    def datasheets(self) -> Sequence[Mapping[str, Any]] | None: ...
    @property
    def pushed(self) -> Mapping[str, Pushed]: ...
    @property
    def code_problem(self) -> str: ...
    @property
    def rerun(self) -> Record | None: ...
    @property
    def rerun_problem(self) -> str: ...
    @property
    def altered(self) -> Sequence[AlteredFacts]: ...
    @property
    def released(self) -> Sequence[ReleasedFacts]: ...


NOT_LOCAL = "the pinned commit is not in the local store, so it could not be read"
FETCH = "dvault fetch"


def checks(r: Facts) -> list[Check]:
    """Every check of ``CHECKS`` for the review, in order."""
    return [
        data_recoverable(r),
        code_pushed(r),
        worktree_clean(r),
        environment_captured(r),
        rerun_verified(r),
        signed(r),
        datasheet_complete(r),
    ]


def verdict(results: list[Check]) -> str:
    """``reproducible`` only when every check passed."""
    return "reproducible" if all(c.status == PASS for c in results) else "not reproducible"


def failing(results: list[Check], required: Sequence[str]) -> list[Check]:
    """The checks named in ``required`` that did not pass."""
    return [c for c in results if c.name in required and c.status != PASS]


def parse_required(text: str) -> list[str]:
    """``--require`` as check names (``all``: every check); a :class:`UsageError` naming
    the unknown ones and the valid ones."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in CHECKS and n != "all"]
    if unknown or not names:
        raise UsageError(
            f"unknown check {', '.join(unknown) or '(none)'} for --require; use all or any "
            f"of: {', '.join(CHECKS)}"
        )
    return list(CHECKS) if "all" in names else list(dict.fromkeys(names))


# -- each check -----------------------------------------------------------------------


NO_FIX_ERASED = (
    "none: the erased contents were removed on purpose and nothing restores them; the "
    "signed redaction record is the evidence (dvault verify --remote NAME lists it)"
)
"""The fix of a revision a redaction altered: there is none but the record."""


def data_recoverable(r: Facts) -> Check:
    """Every object the pinned data needs is on a remote; and no redaction erased part of
    the pinned commit or an input it was derived from: erased on purpose is not missing
    (the remote is complete without it), but it is not recoverable either, so the check
    fails naming the redaction, whatever the remotes hold."""
    found = _stored(r)
    if not r.altered:
        return found
    said = "; ".join(
        f"{'the pinned commit' if a.role == 'pinned' else 'its input'} {a.commit[:12]}: "
        + "; ".join(e.describe() for e in a.erasures)
        + f"; {a.rest_brief()}"
        for a in r.altered
    )
    reason = f"not recoverable in full: a redaction erased part of the data — {said}"
    if found.status == PASS:
        return Check(
            "data_recoverable", FAIL, f"{reason}. Otherwise: {found.reason}", NO_FIX_ERASED
        )
    return Check(
        "data_recoverable",
        FAIL,
        f"{reason}. Also: {found.reason}",
        f"{found.fix} (for the rest; the erased contents: {NO_FIX_ERASED})",
    )


def _stored(r: Facts) -> Check:
    complete = [x for x in r.remotes if x.status == "complete"]
    if complete:
        return Check("data_recoverable", PASS, "; ".join(_holds(x) for x in complete))
    if not r.remotes:
        return Check(
            "data_recoverable",
            FAIL,
            "no remote is configured: the data exists only on this machine",
            "dvault remote add --init origin URL && dvault push origin",
        )
    states = "; ".join(
        f"remote {x.name} ({x.url}) is {x.status}" + (f": {x.detail}" if x.detail else "")
        for x in r.remotes
    )
    return Check(
        "data_recoverable",
        FAIL,
        f"no remote holds every object the pinned data needs: {states}",
        _push_fix(r),
    )


def _push_fix(r: Facts) -> str:
    """``dvault push REMOTE``; where a forget released the pinned commit there (a prune
    may have deleted its contents), a tag keeps it and the push sends what is missing."""
    name = r.remotes[0].name
    released = {x.remote for x in r.released if x.role == "pinned"}
    if name not in released:
        return f"dvault push {shlex.quote(name)}"
    tag = f"keep-{r.pin.commit[:12]}"
    return f"dvault tag {tag} {r.pin.commit} && dvault push {shlex.quote(name)} {tag}"


def _holds(x: RemoteFacts) -> str:
    text = f"remote {x.name} ({x.url}) holds every object the pinned data needs"
    if x.lock:
        text += f"; storage: {x.lock}"
    if x.locked_packs:
        every = "all" if x.locked_packs == x.packs else f"{x.locked_packs} of"
        text += (
            f"; Object Lock {x.lock_mode} on {every} {x.packs} pack(s) holding it, "
            f"retain-until {x.retain_until} at the earliest"
        )
    elif x.packs and x.lock_mode is None and "S3" in x.lock:
        text += f"; none of the {x.packs} pack(s) holding it is under Object Lock"
    if x.redacted:
        text += f"; {x.redacted} object(s) of it were erased by a redaction (dvault redact)"
    if x.detail:
        text += f" ({x.detail})"
    return text


def code_pushed(r: Facts) -> Check:
    sha = r.git_commit[:12]
    if r.code_problem:
        return Check("code_pushed", FAIL, r.code_problem, "git push")
    reviewed = r.pushed.get(r.git_commit)
    if reviewed is None or not reviewed.remotes:
        branch = reviewed.branch if reviewed and reviewed.branch else "main"
        return Check(
            "code_pushed",
            FAIL,
            f"git commit {sha} cannot be on a git remote: no git remote is configured",
            f"git remote add origin URL && git push -u origin {shlex.quote(branch)}",
        )
    missing = [c for c, p in r.pushed.items() if not p.refs]
    if missing:
        whose = [
            f"git commit {c[:12]}" + (" (the code the run recorded)" if c != r.git_commit else "")
            for c in missing
        ]
        remote = reviewed.remotes[0]
        if reviewed.branch:
            fix = f"git push {shlex.quote(remote)} {shlex.quote(reviewed.branch)}"
        else:
            fix = f"git push {shlex.quote(remote)} {r.git_commit}:refs/heads/review-{sha}"
        return Check(
            "code_pushed",
            FAIL,
            f"{' and '.join(whose)} {'is' if len(whose) == 1 else 'are'} on no "
            "remote-tracking branch "
            f"(git remotes: {', '.join(reviewed.remotes)}; as of the last fetch or push)",
            fix,
        )
    where = "; ".join(
        f"git commit {c[:12]} is on {_refs(p)}"
        + (" (the code the run recorded)" if c != r.git_commit else "")
        for c, p in r.pushed.items()
    )
    return Check("code_pushed", PASS, where)


def _refs(p: Pushed) -> str:
    names = [ref.removeprefix("refs/remotes/") for ref in p.refs[:3]]
    return ", ".join(names) + (f" and {len(p.refs) - 3} more" if len(p.refs) > 3 else "")


def worktree_clean(r: Facts) -> Check:
    if r.meta is None:
        return Check("worktree_clean", NOT_RECORDED, NOT_LOCAL, FETCH)
    git = r.meta.get("git")
    dirty = git.get("dirty") if isinstance(git, dict) else None
    if not isinstance(dirty, bool):
        return Check(
            "worktree_clean",
            NOT_RECORDED,
            "the pinned commit records no git state: it was not made in a git work tree "
            "by dvault run or dvault commit",
            "git commit -am 'code' && " + rerecord(r.meta, _signed(r)),
        )
    commit = git.get("commit") if isinstance(git, dict) else None
    at = f"git {commit[:12]}" if isinstance(commit, str) else "git"
    dirty_inputs = [_input_name(i) for i in _inputs(r.meta) if i.get("clean") is False]
    problems = []
    if dirty:
        problems.append(f"the code had changes not committed to git ({at}, dirty)")
    if dirty_inputs:
        problems.append(
            f"input(s) {', '.join(dirty_inputs)} were recorded with --allow-dirty: the "
            "work tree did not hold that revision"
        )
    if problems:
        fix = rerecord(r.meta, _signed(r))
        if dirty:
            fix = "git commit -am 'code' && " + fix
        for item in _inputs(r.meta):
            if item.get("clean") is False and isinstance(item.get("rev"), str):
                path = item.get("path")
                fix = (
                    f"dvault checkout {shlex.quote(item['rev'])}"
                    + (f" -- {shlex.quote(path)}" if isinstance(path, str) and path else "")
                    + " && "
                    + fix
                )
        return Check("worktree_clean", FAIL, "; ".join(problems) + " when it was recorded", fix)
    count = len(_inputs(r.meta))
    inputs = f" and each of its {count} input(s) was what the work tree held" if count else ""
    return Check("worktree_clean", PASS, f"{at} was clean{inputs} when it was recorded")


def environment_captured(r: Facts) -> Check:
    rec = r.environment
    if rec is None:
        return Check("environment_captured", NOT_RECORDED, NOT_LOCAL, FETCH)
    meta = r.meta or {}
    if rec.env is None and rec.problem:
        return Check(
            "environment_captured",
            FAIL,
            f"the recorded environment is refused: {rec.problem}",
            rerecord(meta, _signed(r)) if _run(meta) else "dvault commit --env -m MESSAGE",
        )
    if rec.env is None:
        return Check(
            "environment_captured",
            NOT_RECORDED,
            "the pinned commit records no environment",
            rerecord(meta, _signed(r)) if _run(meta) else "dvault commit --env -m MESSAGE",
        )
    env = rec.env
    if env.interpreter == "dvault":
        why = "; ".join(env.problems) or "the command is not a Python dvault could ask"
        return Check(
            "environment_captured",
            FAIL,
            "the environment recorded is dvault's own Python, not the command's "
            f"interpreter ({why})",
            rerecord(meta, _signed(r))
            + "  (with the command's own Python as its first word, such as "
            ".venv/bin/python train.py, not a shell or a wrapper)",
        )
    facts = f"Python {env.python} ({env.implementation}), {len(env.distributions)} package(s)"
    if env.lockfiles:
        facts += f", lock file(s) {', '.join(lf.path for lf in env.lockfiles[:5])}"
    return Check("environment_captured", PASS, f"{facts}, on {env.platform}")


def rerun_verified(r: Facts) -> Check:
    commit = r.pin.commit[:12]
    if r.rerun_problem:
        return Check(
            "rerun_verified",
            FAIL,
            f"the rerun record is not valid: {r.rerun_problem}",
            f"dvault rerun {commit}",
        )
    if r.meta is None and r.rerun is None:
        return Check("rerun_verified", NOT_RECORDED, NOT_LOCAL, FETCH)
    if r.rerun is None:
        if r.meta is not None and not _run(r.meta):
            return Check(
                "rerun_verified",
                NOT_RECORDED,
                "the pinned commit was not made by dvault run: there is no command to repeat "
                "(record the step that made this data with dvault run, then rerun it)",
                "dvault run --input INPUT@REV -o OUTPUT "
                + ("--sign " if _signed(r) else "")
                + "-- COMMAND && dvault rerun HEAD",
            )
        return Check(
            "rerun_verified",
            NOT_RECORDED,
            f"no rerun of dvault commit {commit} is recorded on this machine",
            f"dvault rerun {commit}",
        )
    rec = r.rerun
    code = f", code: {rec.code}" if rec.code else ""
    when = f"the rerun of {rec.at} (dvault {rec.dvault}{code})"
    if rec.matches:
        ids = ", ".join(f"{o.path} {str(o.reproduced)[:12]}" for o in rec.outputs[:5])
        return Check(
            "rerun_verified", PASS, f"{when} reproduced every output byte for byte ({ids})"
        )
    if rec.exit != 0:
        why = f"{when} failed: the recorded command exited {rec.exit}"
    else:
        example = f", e.g. {rec.differences[0]}" if rec.differences else ""
        why = f"{when} did NOT reproduce the outputs: {rec.count} difference(s){example}"
    return Check("rerun_verified", FAIL, why, f"dvault rerun {commit}")


def signed(r: Facts) -> Check:
    status = r.signature.get("status")
    fp = r.signature.get("fingerprint")
    meta = r.meta or {}
    if status == "good":
        return Check("signed", PASS, f"good signature by {r.signature.get('signer')} (key {fp})")
    if status == "bad":
        return Check(
            "signed",
            FAIL,
            f"BAD signature (key {fp}): it does not verify; the commit is forged or damaged",
            rerecord(meta, sign=True),
        )
    if status == "unknown":
        key = r.signature.get("key")
        return Check(
            "signed",
            FAIL,
            f"signed by key {fp}, which is not a trusted signer (check with its owner that "
            "the key is theirs, then trust it in git)",
            f"echo 'NAME ed25519:{key}' >> .dvaultsigners && git add .dvaultsigners && "
            "git commit -m 'trust NAME'",
        )
    if status == "unsigned":
        return Check(
            "signed",
            NOT_RECORDED,
            "the pinned commit is not signed (a commit cannot be signed afterwards: record "
            "it again signed, after dvault key generate if you have no key)",
            rerecord(meta, sign=True),
        )
    return Check("signed", NOT_RECORDED, NOT_LOCAL, FETCH)


def datasheet_complete(r: Facts) -> Check:
    if r.datasheets is None:
        return Check("datasheet_complete", NOT_RECORDED, NOT_LOCAL, FETCH)
    if all(d.get("complete") is True for d in r.datasheets):
        roots = ", ".join(str(d.get("root")) for d in r.datasheets if "exempt" not in d)
        files = ", ".join(str(d.get("root")) for d in r.datasheets if "exempt" in d)
        why = f"every pinned root has a complete one: {roots or '(none)'}"
        if files:
            why += f" (none asked of {files}: a single-file root cannot hold one)"
        return Check("datasheet_complete", PASS, why)
    problems: list[str] = []
    fixes: list[str] = []
    for d in r.datasheets:
        root = str(d.get("root"))
        if d.get("complete") is True:
            continue
        if "error" in d:
            problems.append(f"{root}: not valid ({d['error']})")
            fixes.append(f"dvault datasheet check {shlex.quote(root)}")
        elif not d.get("found"):
            problems.append(f"{root}: no datasheet")
            fixes.append(f"dvault datasheet init {shlex.quote(root)}")
        else:
            missing = ", ".join(str(m) for m in d.get("missing") or [])
            problems.append(f"{root}: missing {missing}")
            fixes.append(f"dvault datasheet check {shlex.quote(root)}")
    return Check(
        "datasheet_complete",
        FAIL,
        "; ".join(problems),
        " && ".join(fixes) + ", fill in the fields, then dvault add and dvault commit",
    )


# -- the command that records it again --------------------------------------------------


def _signed(r: Facts) -> bool:
    """Whether the pinned commit carries a signature (so recording it again signs too)."""
    return r.signature.get("status") in ("good", "bad", "unknown")


def _run(meta: Mapping[str, Any]) -> Mapping[str, Any] | None:
    run = meta.get("run")
    command = run.get("command") if isinstance(run, dict) else None
    if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
        return run
    return None


def _inputs(meta: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = meta.get("inputs")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _input_name(item: Mapping[str, Any]) -> str:
    path = item.get("path")
    where = f"{path}@" if isinstance(path, str) and path else ""
    return f"{where}{item.get('rev')}"


def rerecord(meta: Mapping[str, Any], sign: bool = False) -> str:
    """The ``dvault run`` that records the pinned commit's run again (inputs, outputs,
    command as recorded), or a ``dvault commit`` when it was not a run."""
    run = _run(meta)
    if run is None:
        return "dvault commit --env " + ("--sign " if sign else "") + "-m MESSAGE"
    words = ["dvault", "run"]
    for item in _inputs(meta):
        words += ["--input", _input_name(item)]
    outputs = run.get("outputs")
    for output in outputs if isinstance(outputs, list) else []:
        words += ["-o", str(output)]
    if sign:
        words.append("--sign")
    text = shlex.join([*words, "--", *run["command"]])
    cwd = run.get("cwd")
    if isinstance(cwd, str) and cwd not in ("", "."):
        text = f"cd {shlex.quote(cwd)} && {text}"
    return text
