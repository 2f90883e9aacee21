"""The tables: timings against their baselines and targets, storage, verification."""

from __future__ import annotations

from collections.abc import Sequence

from benchlib.measure import Bench, MiB, Step

# Targets the table compares against (seconds / MiB); tune them here.
STATUS_CLEAN_TARGET_S = 0.2
STATUS_CHANGED_TARGET_S = 0.4
CHECKOUT_TARGET_S = 1.5
STORE_GROWTH_TARGET_MIB = 30.0
PUSH_INCREMENTAL_TARGET_S = 0.5


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


def step_comparison(name: str, step: Step) -> str:
    """The baseline/target comparison shown for a step, where one is meaningful."""
    if name.startswith("status"):
        target = STATUS_CLEAN_TARGET_S if name == "status clean" else STATUS_CHANGED_TARGET_S
        return f"min {step.min_seconds:.3f} s; {ratio(step.seconds, target, f'{target} s target')}"
    if name.startswith("checkout"):
        return ratio(step.seconds, CHECKOUT_TARGET_S, f"{CHECKOUT_TARGET_S} s target")
    if name.startswith("push v2"):
        return ratio(
            step.seconds, PUSH_INCREMENTAL_TARGET_S, f"{PUSH_INCREMENTAL_TARGET_S} s target"
        )
    return ""


def _baseline_comparison(bench: Bench, name: str, step: Step) -> str:
    """push v1 against `cp` of the packs; clone against `zstd -d | tar -x`."""
    pairs = {"push v1": "baseline cp packs", "clone v2": "baseline untar"}
    for prefix, baseline in pairs.items():
        base = bench.steps.get(baseline)
        if name.startswith(prefix) and base is not None and base.ok:
            return ratio(step.seconds, base.seconds, baseline.removeprefix("baseline "))
    return ""


def timing_rows(bench: Bench) -> list[list[str]]:
    """One row per recorded step, plus add+commit v1 (vs tar|zstd) and the overall peak RSS."""
    tar = bench.steps.get("baseline tar|zstd")
    tar_seconds = tar.seconds if tar and tar.ok else None
    rows: list[list[str]] = []
    for name, step in bench.steps.items():
        label = name if len(step.runs) == 1 else f"{name} (median of {len(step.runs)})"
        comparison = step_comparison(name, step) if step.ok else ""
        label += "" if step.ok else " FAILED"
        comparison = comparison or _baseline_comparison(bench, name, step)
        rows.append([label, f"{step.seconds:.3f}", f"{step.peak_rss_mib:.1f}", comparison])
        if name == "commit v1" and "add" in bench.steps:
            pair = (bench.steps["add"], step)
            total = sum(s.seconds for s in pair)
            label = "add+commit v1" + ("" if all(s.ok for s in pair) else " FAILED")
            rss = f"{max(s.peak_rss_mib for s in pair):.1f}"
            rows.append([label, f"{total:.3f}", rss, ratio(total, tar_seconds, "tar|zstd")])
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
    print("\n## Storage (apparent size)\n")
    print(markdown_table(["item", "MiB", "ratio"], storage_rows(bench)))
    if verification:
        print("\n## Verification of checkouts and clones (blake3 of every file)\n")
        print(markdown_table(["after", "result"], [[k, v] for k, v in verification.items()]))
    if not bench.dvault_available:
        print(f"\ndvault CLI unavailable: `{' '.join(bench.dvault_cmd)} --help` failed.")
    if bench.failures:
        print(f"\nFAILED steps: {', '.join(bench.failures)}")
