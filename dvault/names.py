"""What a tree entry name and a tracked root may be: the rules every reader and writer of
trees, commits, the workspace state and ``dvault.lock`` share (one validator, so no reader
accepts what another refuses, and no writer stores what a reader refuses).

Base layer: imports only errors. docs/format.md ("Trees", "Tracked roots") and
docs/security.md (section 6) say why each rule exists.
"""

from __future__ import annotations

import unicodedata

from dvault.errors import CorruptObject


def is_bad_name(name: bytes) -> bool:
    """Whether ``name`` is not a valid tree entry name (empty, ``.``, ``..``, or holding
    ``/`` or NUL): a name that could escape or confuse a checkout."""
    return not name or name in (b".", b"..") or b"/" in name or b"\0" in name


def check_name(name: bytes) -> None:
    """Refuse tree entry names that could escape or confuse a checkout."""
    if is_bad_name(name):
        raise CorruptObject(f"invalid tree entry name {name!r}")


KINDS = ("dataset", "labels", "checkpoint", "generator", "pipeline", "features", "other")
"""What a tracked root holds (a commit's ``roots`` maps each root to one of these)."""

RESERVED = (b".git", b".dvault")
"""Names no checked-out path, and no tracked root, may have as a component."""

PROJECT_FILES = frozenset(
    {
        ".dvaultsigners",
        ".dvaultignore",
        ".dvaultattributes",
        "dvault.lock",
        ".gitignore",
        ".gitattributes",
        ".gitmodules",
    }
)
"""Files that configure dvault or git where they sit: never a component of a tracked
root, so a data checkout can never write one where dvault or git reads it (inside a
tracked root they are plain data: git does not read a git-ignored directory, and dvault
reads these files only at the project root; docs/security.md, "Checkout")."""

MAX_ROOT_BYTES = 4096
"""PATH_MAX: no file system path, so no tracked root, is longer."""

# code points HFS+ ignores in file names (git's is_hfs_dotgit list)
_HFS_IGNORED = dict.fromkeys(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


def fold(name: bytes) -> str:
    """The name as a case- and normalization-insensitive file system compares it."""
    text = name.decode("utf-8", "surrogateescape").translate(_HFS_IGNORED)
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).casefold())


def reserved_name(name: bytes, insensitive: bool = False) -> bool:
    """Whether ``name`` is ``.git`` or ``.dvault`` (or, on a case- or normalization-
    insensitive file system, a spelling that file system treats as one of them)."""
    if name in RESERVED:
        return True
    if not insensitive:
        return False
    # NTFS also drops trailing dots and spaces: ".git." is ".git"
    return fold(name).rstrip(". ") in (".git", ".dvault")


def is_control(char: str) -> bool:
    """C0 controls (newline, ESC, ...), DEL and the C1 controls: characters that change
    how a line of text, a ``.gitignore`` or a terminal reads."""
    code = ord(char)
    return code < 0x20 or 0x7F <= code < 0xA0


def root_problem(path: str, kind: str, insensitive: bool = False) -> str | None:
    """Why ``path -> kind`` is not a valid tracked root, or None when it is.

    A tracked root is a normalised project-relative POSIX path: no leading ``/``, no
    empty, ``.`` or ``..`` component, no control character, no ``.git`` / ``.dvault``
    component (nor, when ``insensitive``, a spelling the file system folds to one), no
    component naming a file that configures dvault or git (:data:`PROJECT_FILES`), at
    most :data:`MAX_ROOT_BYTES` bytes; its kind is one of :data:`KINDS`. Every tracked
    root passes this, wherever it comes from: a decoded commit, the workspace state,
    ``add``, a scan (one validator, so no reader accepts what another refuses)."""
    if kind not in KINDS:
        return f"its kind {kind!r} is not one of {', '.join(KINDS)}"
    if not path:
        return "it is empty"
    if len(path.encode("utf-8", "surrogatepass")) > MAX_ROOT_BYTES:
        return f"it is longer than {MAX_ROOT_BYTES} bytes"
    if any(is_control(c) for c in path):
        return "it holds a control character"
    if any(0xD800 <= ord(c) < 0xE000 for c in path):
        return "it is not valid UTF-8 text"
    if path.startswith("/"):
        return "it is absolute"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "it is not a normalised relative path (empty, '.' or '..' component)"
        if reserved_name(part.encode("utf-8", "surrogateescape"), insensitive):
            return f"it is inside {part}"
        if part in PROJECT_FILES:
            return f"{part} configures dvault or git, it is not data"
    return None


def check_root(path: str, kind: str, insensitive: bool = False) -> None:
    """Refuse an invalid tracked root (:func:`root_problem`) as a corrupt or hostile
    object. The path is shown as a Python literal (``repr``: control characters, bidi
    overrides and lone surrogates escaped), so a newline or ESC in it reaches no terminal."""
    why = root_problem(path, kind, insensitive)
    if why is not None:
        raise CorruptObject(f"invalid tracked root {path!r}: {why}")
