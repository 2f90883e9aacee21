#!/usr/bin/env python3
"""Regenerate the worked-example screenshots of docs/lineage.md: docs/img/review-example.png
and docs/img/lineage-example.png.

Builds a small git project in a temporary directory with the real ``dvault`` command line
(images in class folders, a CSV of labels, a datasheet, tagged v1; a relabel, tagged v2; a
model trained with ``dvault run --sign --input data@v2`` by a signer the project trusts,
tagged trained; pushed to a directory remote; pinned in git and pushed to a bare git
remote; rerun byte for byte: every check of the verdict passes), renders ``dvault review
--format html`` and ``dvault lineage --format html`` and photographs the top of each
page with headless Chromium (Debian's ``chromium``). Standard library only; nothing
leaves the machine.

    python scripts/screenshot_review.py                 # writes docs/img/*.png
    python scripts/screenshot_review.py --out /tmp/shots --keep
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SHEET = """\
title = "Pets"
origin = "Photos taken by the team, 2024"
collection = "Phone cameras, one session per pet"
licence = "CC-BY-4.0"
personal_data = "none"
consent = "not applicable"
annotators = ["Ada", "Grace"]
annotation_guideline = "pets-guideline v3"
intended_use = "Cat/dog classification demos"
known_limitations = "Two breeds only"
[splits]
train = "data/images/"
"""

TRAIN = """\
import pathlib, random, shutil
random.seed(7)
rows = pathlib.Path("data/labels.csv").read_text().splitlines()[1:]
pathlib.Path("models").mkdir(exist_ok=True)
pathlib.Path("models/model.bin").write_bytes(random.randbytes(4096 + len(rows)))
shutil.copy("model_datasheet.toml", "models/datasheet.toml")
"""

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _dvault() -> list[str]:
    script = Path(sys.executable).parent / "dvault"
    return [str(script)] if script.exists() else [sys.executable, "-m", "dvault"]


class Project:
    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "HOME": str(home),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "DVAULT_CONFIG_DIR": str(home / ".config" / "dvault"),
            "DVAULT_AUTHOR": "Ada Lovelace <ada@example.com>",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_AUTHOR_NAME": "Ada Lovelace",
            "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada Lovelace",
            "GIT_COMMITTER_EMAIL": "ada@example.com",
        }

    def run(self, *args: str, ok: tuple[int, ...] = (0,)) -> bytes:
        done = subprocess.run(args, cwd=self.root, env=self.env, capture_output=True, check=False)
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(args)} exited {done.returncode}: {done.stderr.decode()}")
        return done.stdout

    def dvault(self, *args: str, ok: tuple[int, ...] = (0,)) -> bytes:
        return self.run(*_dvault(), *args, ok=ok)

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def build(work: Path) -> Project:
    """The example project, pushed and pinned (see the module docstring)."""
    proj = Project(work / "pets", work / "home")
    proj.root.mkdir(parents=True)
    (work / "home").mkdir()
    proj.run("git", "init", "-q", "-b", "main")
    proj.dvault("init")
    proj.dvault("key", "generate")
    proj.write(".dvaultsigners", proj.dvault("key", "export").decode())
    for i in range(12):
        proj.write(f"data/images/cat/{i:03}.jpg", "c" * (900 + 37 * i))
        proj.write(f"data/images/dog/{i:03}.jpg", "d" * (800 + 41 * i))
    rows = [f"{i:03}.jpg,{'c01' if i % 2 else 'c02'}" for i in range(24)]
    proj.write("data/labels.csv", "file,label\n" + "\n".join(rows) + "\n")
    proj.write("data/datasheet.toml", SHEET)
    proj.dvault("add", "data")
    proj.dvault("commit", "-m", "v1: 24 images, labels, datasheet")
    proj.dvault("tag", "v1")
    relabelled = [r.replace(",c01", ",c01b") if i < 8 else r for i, r in enumerate(rows)]
    proj.write("data/labels.csv", "file,label\n" + "\n".join(relabelled) + "\n")
    proj.dvault("commit", "-a", "-m", "v2: relabel c01 as c01b (guideline v3)")
    proj.dvault("tag", "v2")
    proj.write("train.py", TRAIN)
    proj.write("model_datasheet.toml", SHEET.replace('"Pets"', '"Pet classifier"'))
    proj.run("git", "add", "-A")
    proj.run("git", "commit", "-qm", "training code")
    proj.dvault(
        "run", "--sign", "--input", "data@v2", "-o", "models", "-m", "train resnet on v2", "--",
        "python", "train.py",
    )  # fmt: skip
    proj.dvault("tag", "trained")
    proj.dvault("remote", "add", "--init", "backup", str(work / "backup"))
    proj.dvault("push")
    proj.run("git", "add", "-A")
    proj.run("git", "commit", "-qm", "pin the trained model")
    proj.run("git", "init", "-q", "--bare", str(work / "code.git"))
    proj.run("git", "remote", "add", "origin", str(work / "code.git"))
    proj.run("git", "push", "-q", "origin", "main")
    proj.dvault("rerun", "--yes", "trained")
    return proj


def shoot(page: Path, png: Path, size: str, work: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={work / 'chromium-profile'}",
            f"--screenshot={png}",
            f"--window-size={size}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    print(f"{png}: {png.stat().st_size // 1024} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--keep", action="store_true", help="keep the example project")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="dvault-shots-"))
    try:
        proj = build(work)
        review = work / "review.html"
        review.write_bytes(proj.dvault("review", "--format", "html", "--require", "all"))
        lineage = work / "lineage.html"
        lineage.write_bytes(proj.dvault("lineage", "trained", "--format", "html"))
        args.out.mkdir(parents=True, exist_ok=True)
        shoot(review, args.out / "review-example.png", "1000,1900", work)
        shoot(lineage, args.out / "lineage-example.png", "1000,900", work)
    finally:
        if args.keep:
            print(f"kept the example in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
