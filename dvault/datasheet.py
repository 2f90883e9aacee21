"""Datasheets: a per-root structured record of where a dataset came from and how it may be
used, kept as ``datasheet.toml`` at the root, so it is versioned with the data.

The fields follow "Datasheets for Datasets" (Gebru et al., 2021: motivation, composition,
collection, preprocessing, uses, distribution, maintenance) and the data-governance items
the EU AI Act asks a technical file to record (Article 10(2) and Annex IV(2)(d): origin,
collection, licence, personal data and consent, annotation, intended use, known
limitations, splits). :data:`FIELDS` is the one list: what is required, each field's type,
and the line the template writes for it.

A datasheet comes from a commit or the work tree, so it is hostile: at most
:data:`MAX_BYTES`, valid UTF-8 TOML, known keys with their types (a wrong type is an
error naming the key); an unknown key is kept as it is and listed in ``unknown`` (a typo
of a required field then shows as both unknown and missing). Parsing and the template
live here and nowhere else.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dvault.errors import CorruptObject, MissingObject, PathNotFound, UsageError
from dvault.repository import Repository
from dvault.trees import lookup

FILE_NAME = "datasheet.toml"
MAX_BYTES = 64 * 1024
"""A datasheet is prose a person wrote: 64 KiB is generous and bounds the parser."""
MAX_TEXT = 16 * 1024
"""Longest value of one text field."""
MAX_ITEMS = 256
"""Most entries of a list or of the ``splits`` table."""

TEXT, TEXT_LIST, TEXT_TABLE = "text", "list of text", "table of text"


@dataclass(frozen=True)
class Field:
    key: str
    kind: str  # TEXT, TEXT_LIST or TEXT_TABLE
    required: bool
    help: str
    """What to write (one line: the template's comment)."""
    source: str
    """Where the field comes from: ``Gebru`` (the datasheet section) or the AI Act item."""


FIELDS: tuple[Field, ...] = (
    Field("title", TEXT, True, "Name of the dataset.", "Gebru: motivation"),
    Field("purpose", TEXT, False, "Why was the dataset created?", "Gebru: motivation"),
    Field("creators", TEXT_LIST, False, "Who created it, on behalf of whom.", "Gebru: motivation"),
    Field("funding", TEXT, False, "Who funded its creation.", "Gebru: motivation"),
    Field("composition", TEXT, False, "What the instances are; how many.", "Gebru: composition"),
    Field(
        "origin", TEXT, True, "Where the data came from (source, owner).", "AI Act Art. 10(2)(b)"
    ),
    Field(
        "collection", TEXT, True, "How and when it was collected.", "AI Act Art. 10(2)(b); Gebru"
    ),
    Field(
        "preprocessing",
        TEXT,
        False,
        "Cleaning, filtering, labelling steps applied.",
        "AI Act Art. 10(2)(c); Gebru",
    ),
    Field(
        "licence", TEXT, True, "Licence or terms of use (SPDX id if any).", "Gebru: distribution"
    ),
    Field(
        "personal_data",
        TEXT,
        True,
        "Does it hold personal data? Which categories? ('none' if none).",
        "AI Act Art. 10(2)(b), 10(5); GDPR",
    ),
    Field(
        "consent",
        TEXT,
        True,
        "Legal basis / consent for the personal data ('not applicable' if none).",
        "Gebru: collection; GDPR Art. 6",
    ),
    Field(
        "annotators",
        TEXT_LIST,
        True,
        "Who labelled the data (team, vendor, crowd), how they were trained.",
        "AI Act Art. 10(2)(c)",
    ),
    Field(
        "annotation_guideline",
        TEXT,
        True,
        "The labelling guideline and its version.",
        "AI Act Art. 10(2)(c); Annex IV(2)(d)",
    ),
    Field(
        "intended_use",
        TEXT,
        True,
        "Tasks the dataset is meant for.",
        "Gebru: uses; Art. 10(2)(a), (d)",
    ),
    Field("out_of_scope_use", TEXT, False, "Uses it must not serve.", "Gebru: uses"),
    Field(
        "known_limitations",
        TEXT,
        True,
        "Known gaps, biases, errors (AI Act: 'possible biases', 'data gaps').",
        "AI Act Art. 10(2)(f)-(h)",
    ),
    Field(
        "splits",
        TEXT_TABLE,
        True,
        'Each split and how it is defined, e.g. train = "data/train/, 80% by hash of id".',
        "AI Act Art. 10(1); Annex IV(2)(d), (g)",
    ),
    Field("maintainer", TEXT, False, "Who maintains it; how to reach them.", "Gebru: maintenance"),
    Field("updates", TEXT, False, "How and when it is updated.", "Gebru: maintenance"),
)
BY_KEY = {f.key: f for f in FIELDS}
REQUIRED = tuple(f.key for f in FIELDS if f.required)

Value = str | list[str] | dict[str, str]


@dataclass
class Datasheet:
    """One root's datasheet: the known fields it sets (valid), the unknown keys it holds
    (kept, never interpreted), and which required fields are missing or empty."""

    root: str
    where: str
    """Where it was read from (a path, or ``REV:path``), for messages."""
    found: bool = True
    fields: dict[str, Value] = field(default_factory=dict)
    unknown: dict[str, object] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [key for key in REQUIRED if not self.fields.get(key)]

    @property
    def complete(self) -> bool:
        return self.found and not self.missing

    def to_json(self) -> dict[str, object]:
        return {
            "root": self.root,
            "file": self.where,
            "found": self.found,
            "fields": self.fields,
            "missing": self.missing,
            "unknown": sorted(self.unknown),
            "complete": self.complete,
        }


def _text(value: object, key: str, where: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be text, not {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise UsageError(f"{where}: {key} is longer than {MAX_TEXT} characters")
    return value.strip()


def _value(spec: Field, value: object, where: str) -> Value:
    if spec.kind == TEXT:
        return _text(value, spec.key, where)
    if spec.kind == TEXT_LIST:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or len(value) > MAX_ITEMS:
            raise UsageError(f"{where}: {spec.key} must be a list of at most {MAX_ITEMS} texts")
        return [t for t in (_text(v, spec.key, where) for v in value) if t]
    if not isinstance(value, dict) or len(value) > MAX_ITEMS:
        raise UsageError(f"{where}: {spec.key} must be a table of at most {MAX_ITEMS} entries")
    return {_text(k, spec.key, where): _text(v, f"{spec.key}.{k}", where) for k, v in value.items()}


def parse(data: bytes, root: str, where: str) -> Datasheet:
    """The datasheet in ``data`` (the bytes of ``where``), validated; raises
    :class:`UsageError` naming ``where`` for anything that is not a datasheet."""
    if len(data) > MAX_BYTES:
        raise UsageError(f"{where}: a datasheet is at most {MAX_BYTES} bytes")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:  # deeply nested arrays: hostile, not a datasheet
        raise UsageError(f"{where}: nested too deeply to be a datasheet") from None
    sheet = Datasheet(root, where)
    for key, value in document.items():
        spec = BY_KEY.get(key)
        if spec is None:
            sheet.unknown[key] = value
        else:
            sheet.fields[key] = _value(spec, value, where)
    return sheet


def missing_sheet(root: str, where: str) -> Datasheet:
    return Datasheet(root, where, found=False)


def template(root: str) -> str:
    """``datasheet init``'s file: every field, commented out, with what to write."""
    lines = [
        f"# Datasheet of {root}: fill in each field and uncomment it (TOML).",
        "# Fields from 'Datasheets for Datasets' (Gebru et al.) and the EU AI Act's",
        "# data-governance items; REQUIRED ones are listed by `dvault datasheet check`.",
        "# Versioned with the data: commit it with the root (dvault commit -a).",
        "",
    ]
    for spec in FIELDS:
        need = "REQUIRED" if spec.required else "optional"
        lines.append(f"# {spec.help} [{need}; {spec.source}]")
        if spec.kind == TEXT:
            lines.append(f'# {spec.key} = ""')
        elif spec.kind == TEXT_LIST:
            lines.append(f"# {spec.key} = []")
        else:
            lines += [f"# [{spec.key}]", '# train = ""', '# validation = ""', '# test = ""']
        lines.append("")
    return "\n".join(lines)


# -- reading one --------------------------------------------------------------------------


def read_committed(repo: Repository, commit_id: bytes, root: str, rev: str) -> Datasheet:
    """The datasheet of ``root`` as committed in ``commit_id`` (``rev`` names it)."""
    where = f"{rev}:{root}/{FILE_NAME}"
    commit = repo.read_commit(commit_id)
    entry = lookup(repo.store, commit.tree, os.fsencode(f"{root}/{FILE_NAME}"))
    if entry is None:
        return missing_sheet(root, where)
    if entry.is_dir or entry.is_link:
        raise UsageError(f"{where}: not a regular file")
    if entry.size > MAX_BYTES:
        raise UsageError(f"{where}: a datasheet is at most {MAX_BYTES} bytes")
    try:
        # the size the tree claims is checked against the content before its first byte
        data = b"".join(repo.store.iter_file_content(entry.id, entry.size))
    except (CorruptObject, MissingObject) as exc:
        raise UsageError(f"{where}: {exc}") from None
    return parse(data, root, where)


def read_work(repo: Repository, root: str) -> Datasheet:
    """The datasheet of ``root`` in the work tree: a regular file, never followed through
    a symlink, read up to one byte past the limit."""
    path = repo.root / root / FILE_NAME
    where = f"{root}/{FILE_NAME}"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return missing_sheet(root, where)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO, a device, a directory
            raise UsageError(f"{where}: not a regular file")
        data = f.read(MAX_BYTES + 1)
    return parse(data, root, where)


def write_template(repo: Repository, root: str) -> Path:
    """Create ``root/datasheet.toml`` from :func:`template`; an existing file (or
    anything at that name) is never replaced."""
    path = repo.root / root / FILE_NAME
    if not (repo.root / root).is_dir():
        raise PathNotFound(f"{root} is not a directory in the work tree")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        raise UsageError(f"{root}/{FILE_NAME} already exists; edit it instead") from None
    except OSError as exc:
        raise UsageError(f"cannot create {root}/{FILE_NAME}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(template(root))
    return path
