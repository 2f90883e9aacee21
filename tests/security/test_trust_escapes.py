"""Terminal escapes (issue 17, item 6): what a commit, a work tree, a lock file or a signer
list says is printed escaped in every format — no control character, ESC, C1 or bidi
control reaches the terminal, and no message line passes for one of dvault's own.

The attacker writes a commit (with dvault's own store writer, as a remote writer could)
whose author, message and lineage meta hold terminal escapes and a forged "good
signature" line; the victim runs the real ``dvault`` on it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from dvault.commitobjects import Commit
from dvault.hashing import ObjectId, ObjectType
from dvault.repo import Repo
from dvault.treeobjects import MODE_DIR, MODE_FILE, MODE_LINK
from tests.cli.helpers import Project
from tests.security._trust_helpers import (
    FORGED,
    HOSTILE,
    RAW,
    assert_clean,
    craft,
    raw_tree,
    victim,
)

AUTHOR = f"Mallory{HOSTILE}{FORGED} <m@evil>"
MESSAGE = f"innocent </script><script>alert(1)</script> | `x`{HOSTILE}{FORGED}\n\nbody"
META = {
    "user": f"eve{HOSTILE}",
    "host": f"box{FORGED}",
    "command": ["dvault", f"commit{HOSTILE}"],
    "inputs": [{"rev": 'v1"];\n"x" -> "y', "path": f"data{HOSTILE}", "commit": "zz" * 32}],
    "sources": [{"path": f"gen.py{HOSTILE}", "id": f"{HOSTILE}abc"}],
    "run": {"command": ["sh", "-c", f"echo {HOSTILE}"], "cwd": ".", "outputs": ["data"]},
    "git": {"commit": f"{HOSTILE}deadbeef", "dirty": False},
}


def _hostile(tmp_path: Path, git: bool = False) -> tuple[Project, str]:
    proj = victim(tmp_path, git)
    return proj, craft(proj.root, author=AUTHOR, message=MESSAGE, meta=META)


def _no_forged_header(text: str) -> None:
    """dvault's header lines start a line; a message's lines are indented."""
    for line in text.splitlines():
        assert not line.startswith(("Signature: good", "Author: alice")), text


def test_log_show_and_lineage_print_no_control_characters(tmp_path: Path) -> None:
    """log (every form), show, lineage (text, html, dot): escaped, nothing forged."""
    project, evil = _hostile(tmp_path)
    out = {}
    for args in (
        ("log", "evil", "--show-signature"),
        ("log", "evil", "--oneline", "--show-signature", "--graph"),
        ("show", "evil"),
        ("lineage", "evil"),
        ("lineage", "evil", "--format", "html"),
        ("lineage", "evil", "--format", "dot"),
    ):
        result = project.ok(*args)
        assert_clean(result)
        _no_forged_header(result.out)
        out[args[-1]] = result.out
    shown = out["--show-signature"]
    assert "Signature: unsigned" in shown
    assert "Author: Mallory\\x1b[2K\\r\\x1b]0;pwned\\x07\\u202e" in shown  # visible escapes
    assert "    Signature: good signature by alice" in shown  # indented: the message's
    html = out["html"]
    assert "<script>alert" not in html and "&lt;/script&gt;" in html
    dot = out["dot"].splitlines()
    string = r'"(?:[^"\\]|\\.)*"'  # a Graphviz quoted string: no bare quote inside
    node = re.compile(rf"  {string} \[label={string}(, style=dashed)?\];")
    edge = re.compile(
        rf"  {string} -> {string} \[(style=dashed, color=gray45, |color=blue, penwidth=2, )"
        rf"label={string}\];"
    )
    body = dot[3:-1]
    assert dot[0] == "digraph lineage {" and dot[-1] == "}"
    assert body and all(node.fullmatch(x) or edge.fullmatch(x) for x in body), dot
    assert f'"{evil}"' in "\n".join(body)


def test_colour_codes_are_dvaults_own(tmp_path: Path) -> None:
    """With colour forced on, every ESC on stdout opens one of dvault's SGR colours."""
    project, _ = _hostile(tmp_path)
    for args in (("log", "evil"), ("log", "evil", "--oneline"), ("show", "evil")):
        out = project.ok("--color", "always", *args).out
        assert "\x1b[" in out  # coloured
        without_sgr = re.sub(r"\x1b\[[0-9;]*m", "", out)
        assert RAW.search(without_sgr) is None, out


def test_json_is_faithful_and_safe_to_print(tmp_path: Path) -> None:
    """--json keeps every value exactly (a parser reads it back), yet its bytes carry no
    ESC, C1 or bidi control: JSON escapes them as \\uXXXX."""
    project, _ = _hostile(tmp_path)
    result = project.ok("log", "evil", "-n", "1", "--json")
    assert_clean(result)
    commit = result.json()[0]
    assert commit["author"] == AUTHOR and commit["message"] == MESSAGE
    assert commit["meta"]["user"] == META["user"]


def test_status_of_a_hostile_file_name(tmp_path: Path) -> None:
    """A file in the work tree (an unpacked archive, a download) named with escapes."""
    project = victim(tmp_path)
    name = f"x{HOSTILE}{FORGED}.txt"
    project.write(f"data/{name}", "new\n")
    result = project.ok("status")
    assert_clean(result)
    assert '"data/x\\033[2K\\r' in result.out  # quoted as git quotes a name (textsafe.path)
    _no_forged_header(result.out)
    assert_clean(project.ok("status", "--json"))


def test_verify_and_checkout_errors_are_escaped(tmp_path: Path) -> None:
    """Problems and error messages quote paths and link targets from a commit: escaped."""
    project = victim(tmp_path)
    with Repo.open(project.root) as repo:
        _, head = repo.refs.head()
        with repo.store.writer() as w:
            missing = ObjectId(b"\x07" * 32)  # never stored: verify reports the path
            link = b"../../x" + HOSTILE.encode()
            link_id = w.put_raw(ObjectType.BLOB, link)
            data = raw_tree(
                w,
                [
                    (f"f{HOSTILE}".encode(), MODE_FILE, 5, missing),
                    (b"l", MODE_LINK, len(link), link_id),
                ],
            )
            top = raw_tree(w, [(b"data", MODE_DIR, 5, data)])
            cid = w.put(
                Commit(top, (head,) if head else (), "M <m@x>", 1, "c", {"data": "dataset"})
            )
        repo.refs.update("refs/heads/evil", cid, "crafted")
    verify = project.run("verify")
    assert verify.code == 1, verify.describe()
    assert_clean(verify)
    checkout = project.run("checkout", "evil")
    assert checkout.code in (2, 3), checkout.describe()
    assert_clean(checkout)
    assert not (project.root.parent / "x").exists()
    bad_rev = project.run("log", f"nope{HOSTILE}")
    assert bad_rev.code == 2
    assert_clean(bad_rev)


def test_review_escapes_the_pin_lineage_and_signers(tmp_path: Path) -> None:
    """review (md, html, json) of a git revision whose committed dvault.lock and pinned
    commit are hostile: escaped per format; Markdown tables keep their columns."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    proj = victim(tmp_path, git=True)
    evil = craft(proj.root, author=AUTHOR, message=MESSAGE, meta=META, sign_with=key)
    public = key.public_key().public_bytes_raw().hex()

    def lock(root: str, kind: str) -> str:  # a TOML basic string is a JSON string
        return (
            f'version = 1\ncommit = "{evil}"\n\n[roots.{json.dumps(root)}]\n'
            f'kind = {json.dumps(kind)}\ntree = "{"ab" * 32}"\nsize = 1\nfiles = 1\n'
        )

    git = ["git", "-C", str(proj.root)]
    # a root or kind holding control characters is refused (escaped), never rendered
    (proj.root / "dvault.lock").write_text(lock(f"data{HOSTILE}", HOSTILE))
    subprocess.run([*git, "add", "dvault.lock"], check=True, env=proj.env)
    subprocess.run([*git, "commit", "-qm", "bad pin"], check=True, env=proj.env)
    refused = proj.run("review")
    assert refused.code == 2, refused.describe()
    assert_clean(refused)
    assert "is not a valid dvault.lock" in refused.err
    # a valid root can still hold Markdown and HTML syntax
    (proj.root / "dvault.lock").write_text(lock("data|<b>x</b>|", "dataset"))
    signer = "alice\x1b]0;pwned\x07\u202e\x9b2K"  # no whitespace: one word of the file
    (proj.root / ".dvaultsigners").write_text(f"{signer} ed25519:{public}\n")
    subprocess.run([*git, "add", "dvault.lock", ".dvaultsigners"], check=True, env=proj.env)
    subprocess.run([*git, "commit", "-qm", "pin"], check=True, env=proj.env)
    md = proj.run("review")
    assert md.code == 1, md.describe()  # no remote: not reproducible
    assert_clean(md)
    _no_forged_header(md.out)
    assert "good signature by alice\\\\x1b\\]0;pwned" in md.out  # Markdown escapes
    pinned = md.out.split("## Pinned data", 1)[1].split("## Lineage", 1)[0]
    rows = [x for x in pinned.splitlines() if x.startswith("|")]
    cells = {re.sub(r"\\.", "", row).count("|") for row in rows}  # unescaped pipes
    assert len(rows) == 3 and cells == {6}, md.out  # header, rule, hostile root: 5 cells
    html = proj.run("review", "--format", "html")
    assert_clean(html)
    assert "<b>x</b>" not in html.out and "<script>alert" not in html.out
    doc = proj.run("review", "--json")
    assert_clean(doc)
    assert json.loads(doc.out)["lineage"]["nodes"][0]["author"] == AUTHOR
