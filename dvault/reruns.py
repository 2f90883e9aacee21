"""What ``dvault rerun`` found, kept so a review can say "rerun verified" (issue 21).

One record per dvault commit, the latest rerun's: ``.dvault/reruns/<commit id>.json``,
written atomically (:func:`dvault.fsutil.write_durable`) when a rerun finishes (matching or
not, or its command failing). It says when, with which dvault, whether the outputs
matched byte for byte, and for each output the id recorded in the commit against the id
reproduced (a tree's id for a folder, a blob's for a file: equal ids are equal bytes).

A local file, not an object a push sends: the record is a claim this machine makes about
what it ran, and an unsigned claim fetched from a remote would let anyone who can push
turn the check green without running anything. A CI job that reruns and reviews in the
same work tree has it; another machine reruns to get its own.

The file is input too (anything under ``.dvault`` can be edited or planted): :func:`read`
refuses one larger than :data:`MAX_RECORD`, a symlink, one that is not this exact shape,
one naming another commit, and one whose verdict contradicts its own outputs.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dvault.errors import DvaultError
from dvault.fsutil import write_durable

FORMAT = "dvault-rerun/1"
MAX_RECORD = 1 << 20
"""Most bytes a record may hold: 4096 outputs of ~200 bytes, and 20 differences."""
MAX_OUTPUTS = 4096
MAX_DIFFERENCES = 20
"""Differences kept as examples (their number is kept whole)."""
MAX_TEXT = 4096
_ID = re.compile(r"[0-9a-f]{64}")
_KEYS = {
    "format",
    "commit",
    "at",
    "dvault",
    "exit",
    "matches",
    "outputs",
    "differences",
    "count",
    "code",
}


class RecordInvalid(DvaultError):
    """A rerun record that is not what dvault writes: reported, never trusted."""


@dataclass(frozen=True)
class Output:
    path: str
    recorded: str | None
    """The id the commit records at ``path`` (None: the commit has nothing there)."""
    reproduced: str | None
    """The id the rerun produced there (None: nothing, or the command failed)."""


@dataclass(frozen=True)
class Record:
    commit: str
    at: str
    """When the rerun finished, UTC, ISO 8601 (``2026-12-07T04:10:00Z``)."""
    dvault: str
    exit: int
    """The recorded command's exit status in the rerun (not 0: nothing compared)."""
    matches: bool
    outputs: tuple[Output, ...]
    differences: tuple[str, ...] = ()
    """The first :data:`MAX_DIFFERENCES` differences (``differs: PATH`` ...)."""
    count: int = 0
    """How many differences there were."""
    code: str = ""
    """Which code the rerun used, in words (``RerunPlan.code``: the work tree's, at which
    git commit, against the one the run recorded; "" outside git)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "commit": self.commit,
            "at": self.at,
            "dvault": self.dvault,
            "exit": self.exit,
            "matches": self.matches,
            "outputs": [vars(o) for o in self.outputs],
            "differences": list(self.differences),
            "count": self.count,
            "code": self.code,
        }


def path_of(dvault_dir: Path, commit: str) -> Path:
    return dvault_dir / "reruns" / f"{commit}.json"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write(dvault_dir: Path, record: Record) -> Path:
    """Store ``record`` as its commit's record (replacing an older one), atomically."""
    check(record.to_json(), record.commit)  # never write what read would refuse
    target = path_of(dvault_dir, record.commit)
    target.parent.mkdir(exist_ok=True)
    body = json.dumps(record.to_json(), indent=1, sort_keys=True).encode() + b"\n"
    write_durable(target, body)
    return target


def read(dvault_dir: Path, commit: str) -> Record | None:
    """The record of the last rerun of ``commit`` (a full hex id); None when there is
    none. :class:`RecordInvalid` (one line) for a file that is not a valid record."""
    path = path_of(dvault_dir, commit)
    where = f".dvault/reruns/{commit[:12]}….json"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RecordInvalid(f"{where}: cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RecordInvalid(f"{where}: not a regular file")
        if info.st_size > MAX_RECORD:
            raise RecordInvalid(f"{where}: {info.st_size} bytes, more than a record holds")
        data = os.read(fd, MAX_RECORD + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_RECORD:
        raise RecordInvalid(f"{where}: more than {MAX_RECORD} bytes")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RecordInvalid(f"{where}: not JSON") from None
    try:
        return check(doc, commit)
    except RecordInvalid as exc:
        raise RecordInvalid(f"{where}: {exc}") from None


def _text(value: object, what: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\0" in value:
        raise RecordInvalid(f"{what} is not text")
    if pattern is not None and not pattern.fullmatch(value):
        raise RecordInvalid(f"{what} is not in the form dvault writes")
    return value


_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def check(doc: object, commit: str) -> Record:
    """``doc`` as a :class:`Record` of ``commit``, or :class:`RecordInvalid` naming the
    first thing wrong."""
    if not isinstance(doc, dict) or set(doc) != _KEYS:
        raise RecordInvalid("not a rerun record (its keys are not the record's)")
    if doc["format"] != FORMAT:
        raise RecordInvalid(f"format {str(doc['format'])[:40]!r} is not {FORMAT}")
    if _text(doc["commit"], "commit", _ID) != commit:
        raise RecordInvalid(f"it is the record of another commit ({doc['commit'][:12]})")
    at = _text(doc["at"], "at", _AT)
    version = _text(doc["dvault"], "dvault version")
    code = doc["exit"]
    count = doc["count"]
    if not isinstance(code, int) or isinstance(code, bool) or not -(2**31) <= code < 2**31:
        raise RecordInvalid("exit is not an exit status")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count < 2**63:
        raise RecordInvalid("count is not a number of differences")
    raw_outputs, raw_differences = doc["outputs"], doc["differences"]
    if not isinstance(raw_outputs, list) or not 0 < len(raw_outputs) <= MAX_OUTPUTS:
        raise RecordInvalid("outputs is not a list of outputs")
    if not isinstance(raw_differences, list) or len(raw_differences) > MAX_DIFFERENCES:
        raise RecordInvalid("differences is not a short list")
    outputs = []
    for item in raw_outputs:
        if not isinstance(item, dict) or set(item) != {"path", "recorded", "reproduced"}:
            raise RecordInvalid("an output is not {path, recorded, reproduced}")
        ids = [
            None if item[k] is None else _text(item[k], k, _ID) for k in ("recorded", "reproduced")
        ]
        outputs.append(Output(_text(item["path"], "an output path"), ids[0], ids[1]))
    differences = tuple(_text(d, "a difference") for d in raw_differences)
    matches = doc["matches"]
    if not isinstance(matches, bool):
        raise RecordInvalid("matches is not true or false")
    honest = code == 0 and count == 0 and all(o.recorded == o.reproduced for o in outputs)
    if matches != honest:
        raise RecordInvalid("it says the outputs match where its own ids or exit say otherwise")
    used = _text(doc["code"], "code")
    return Record(commit, at, version, code, matches, tuple(outputs), differences, count, used)
