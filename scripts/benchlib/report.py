"""The tables: timings against their baselines and targets, storage, verification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchlib.measure import Bench, MiB, Run, Step

STORE_GROWTH_TARGET_MIB = 30.0
"""The storage table's target for the store's growth from v1 to v2."""


@dataclass(frozen=True)
class Target:
    """A limit a step is held to, so one run of the bench says whether it is met: in
    seconds, or (with ``baselines``) as a ratio to the sum of those baseline steps'
    medians, measured in the same run (the machine's speed cancels out)."""

    step: str
    """The steps it applies to: every step whose name starts with this."""
    limit: float
    baselines: tuple[str, ...] = ()
    label: str = ""
    """How the reference is named in the table (``cat+b3sum packs``)."""

    def applies(self, name: str) -> bool:
        return name.startswith(self.step)


TARGETS = (
    Target("status, empty project", 0.05),  # status's start-up; issue 23: half of clean
    Target("status clean", 0.10),  # issue 23 (was 0.2 s)
    Target("status changed", 0.4),
    Target("add+commit v1", 0.8, ("baseline tar|zstd",), "tar|zstd"),  # issue 23
    Target("checkout", 1.0),  # issue 23: each switch between v1 and v2 (was 1.5 s)
    Target("push v2", 0.5),
    Target("clone v2", 1.0, ("baseline untar",), "untar"),  # issue 23
    Target(
        "verify --read-data",
        1.5,
        ("baseline cat packs", "baseline blake3 packs"),
        "cat+b3sum packs",
    ),  # issue 23
)
"""Every target a step of the ML project's run is held to (docs/performance.md)."""


@dataclass(frozen=True)
class Outcome:
    """A step measured against its target: the value (seconds or ratio) and whether met."""

    step: str
    target: Target
    value: float

    @property
    def met(self) -> bool:
        return self.value <= self.target.limit

    def measured(self) -> str:
        t = self.target
        return f"{self.value:.2f}x {t.label}" if t.baselines else f"{self.value:.3f} s"

    def limit(self) -> str:
        t = self.target
        return f"<= {t.limit:g}x {t.label}" if t.baselines else f"<= {t.limit:g} s"

    def describe(self) -> str:
        verdict = "met" if self.met else "NOT MET"
        if self.target.baselines:
            return f"{self.measured()}; target {self.limit()}: {verdict}"
        return f"target {self.limit()}: {verdict}"

    def to_json(self) -> dict[str, object]:
        return {
            "step": self.step,
            "value": self.value,
            "unit": f"x {self.target.label}" if self.target.baselines else "s",
            "limit": self.target.limit,
            "met": self.met,
        }


def add_commit(bench: Bench) -> Step | None:
    """add (median) + commit v1 as one step: what add+commit v1's target is about."""
    add, commit = bench.steps.get("add"), bench.steps.get("commit v1")
    if add is None or commit is None:
        return None
    run = Run(
        add.seconds + commit.seconds,
        max(add.peak_rss_mib, commit.peak_rss_mib),
        0 if add.ok and commit.ok else 1,
        "",
        "",
        max(add.memory_mib, commit.memory_mib),
    )
    return Step("add+commit v1", [run])


def outcome(bench: Bench, name: str, step: Step) -> Outcome | None:
    """How ``step`` does against its target, or None (no target, a failed step, or a
    baseline that failed or was not run)."""
    target = next((t for t in TARGETS if t.applies(name)), None)
    if target is None or not step.ok:
        return None
    if not target.baselines:
        return Outcome(name, target, step.seconds)
    bases = [bench.steps.get(b) for b in target.baselines]
    if not all(b is not None and b.ok for b in bases):
        return None
    reference = sum(b.seconds for b in bases if b is not None)
    return Outcome(name, target, step.seconds / reference) if reference else None


def outcomes(bench: Bench) -> list[Outcome]:
    """Every step that has a target, in the order they ran (add+commit v1 after commit)."""
    found = []
    for name, step in _with_add_commit(bench):
        result = outcome(bench, name, step)
        if result is not None:
            found.append(result)
    return found


def _with_add_commit(bench: Bench) -> list[tuple[str, Step]]:
    steps: list[tuple[str, Step]] = []
    for name, step in bench.steps.items():
        steps.append((name, step))
        pair = add_commit(bench) if name == "commit v1" else None
        if pair is not None:
            steps.append((pair.name, pair))
    return steps


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A padded markdown table, readable both raw in a terminal and rendered."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def ratio(value: float, reference: float | None, label: str) -> str:
    """'N.NNx label', or empty when there is no reference to compare against."""
    return f"{value / reference:.2f}x {label}" if reference else ""


def comparison(bench: Bench, name: str, step: Step) -> str:
    """What the table says beside a step: its target and whether it is met, push v1
    against `cp` of the packs (no target: a yardstick), the fastest of a status's runs."""
    parts = [f"min {step.min_seconds:.3f} s"] if name.startswith("status") else []
    result = outcome(bench, name, step)
    if result is not None:
        parts.append(result.describe())
    base = bench.steps.get("baseline cp packs")
    if name.startswith("push v1") and base is not None and base.ok and step.ok:
        parts.append(ratio(step.seconds, base.seconds, "cp packs"))
    return "; ".join(parts)


def timing_rows(bench: Bench) -> list[list[str]]:
    """One row per recorded step, plus add+commit v1 (vs tar|zstd) and the overall peak RSS."""
    rows: list[list[str]] = []
    for name, step in _with_add_commit(bench):
        label = name if len(step.runs) == 1 else f"{name} (median of {len(step.runs)})"
        label += "" if step.ok else " FAILED"
        rss = f"{step.peak_rss_mib:.1f}"
        rows.append([label, f"{step.seconds:.3f}", rss, comparison(bench, name, step)])
    dvault_steps = [s for n, s in bench.steps.items() if not n.startswith("baseline")]
    if dvault_steps:
        peak = max(s.peak_rss_mib for s in dvault_steps)
        rows.append(["max over dvault steps", "", f"{peak:.1f}", ""])
    return rows


def storage_rows(bench: Bench) -> list[list[str]]:
    """Apparent sizes in MiB, with the store compared to the tree, the archive and the target."""
    sizes = bench.sizes
    tree, archive = sizes["tree v1"], sizes.get("tar.zst archive")
    store_v1 = sizes.get(".dvault after v1", 0)
    comparisons = {
        "tar.zst archive": ratio(archive or 0, tree, "tree"),
        ".dvault after v1": "; ".join(
            filter(None, [ratio(store_v1, tree, "tree"), ratio(store_v1, archive, "tar.zst")])
        ),
        "store growth v1->v2": ratio(
            sizes.get("store growth v1->v2", 0) / MiB,
            STORE_GROWTH_TARGET_MIB,
            f"{STORE_GROWTH_TARGET_MIB:g} MiB target",
        ),
    }
    return [
        [name, f"{value / MiB:.1f}", comparisons.get(name, "")]
        for name, value in sizes.items()
        if not name.endswith("(allocated)")
    ]


def report(bench: Bench, verification: dict[str, str], floor_mib: float) -> None:
    """Print the timing, storage and verification tables."""
    print("\n## Timings\n")
    headers = ["step", "seconds", "peak RSS MiB", "vs baseline / target"]
    print(markdown_table(headers, timing_rows(bench)))
    print(f"\nPeak RSS readings near {floor_mib:.0f} MiB are the floor (the launcher's size).")
    results = outcomes(bench)
    if results:
        print("\n## Targets\n")
        rows = [[r.step, r.measured(), r.limit(), "met" if r.met else "NOT MET"] for r in results]
        print(markdown_table(["step", "measured", "target", ""], rows))
    print("\n## Storage (apparent size)\n")
    print(markdown_table(["item", "MiB", "ratio"], storage_rows(bench)))
    if verification:
        print("\n## Verification of checkouts and clones (blake3 of every file)\n")
        print(markdown_table(["after", "result"], [[k, v] for k, v in verification.items()]))
    if not bench.dvault_available:
        print(f"\ndvault CLI unavailable: `{' '.join(bench.dvault_cmd)} --help` failed.")
    if bench.failures:
        print(f"\nFAILED steps: {', '.join(bench.failures)}")
