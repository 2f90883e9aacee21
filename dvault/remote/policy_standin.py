"""A minimal stand-in for the retention policy engine (part A of issue 22 owns the real
one, ``dvault/retention.py``): which commits of one branch a ``forget`` policy keeps.

``dvault remote du --policy`` needs an answer before that engine is merged. This follows
restic's rules (``restic forget``, internal/restic/snapshot_policy.go): ``--keep-last N``
keeps the N newest; ``--keep-hourly/daily/weekly/monthly/yearly N`` keep the newest commit
of each of the N most recent calendar periods that hold a commit (periods with no commit
do not count); ``--keep-within D`` keeps every commit younger than D (``90d``, ``2y5m``,
``12h``) before the newest one. When the engine lands, :func:`policy_keeps` and
:func:`parse_policy` become imports of it and this module goes.
"""

from __future__ import annotations

import datetime
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from dvault.errors import UsageError

RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_DURATION = re.compile(r"(?:(\d{1,5})y)?(?:(\d{1,5})m)?(?:(\d{1,5})d)?(?:(\d{1,6})h)?")
MAX_POLICY = 1024
"""The longest ``--policy`` text accepted (a policy is a handful of options)."""


@dataclass(frozen=True)
class Policy:
    counts: dict[str, int] = field(default_factory=dict)
    within: tuple[int, int, int, int] | None = None  # years, months, days, hours
    text: str = ""

    def empty(self) -> bool:
        return not self.counts and self.within is None


def parse_policy(text: str) -> Policy:
    """``"--keep-daily 7 --keep-weekly 5 --keep-within 90d"`` as a :class:`Policy`; a bad
    option is one :class:`UsageError` line."""
    if len(text) > MAX_POLICY:
        raise UsageError(f"--policy is longer than {MAX_POLICY} characters")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"--policy: {exc}") from None
    counts: dict[str, int] = {}
    within = None
    words = [part for word in words for part in word.split("=", 1)]
    if len(words) % 2:
        raise UsageError("--policy takes pairs such as '--keep-daily 7 --keep-weekly 5'")
    for option, value in zip(words[::2], words[1::2], strict=True):
        rule = option.removeprefix("--keep-")
        if rule == "within":
            match = _DURATION.fullmatch(value)
            if not value or match is None:
                raise UsageError(
                    f"--policy: --keep-within takes a duration such as 90d or 2y5m, not {value!r}"
                )
            y, mo, d, h = (int(g or 0) for g in match.groups())
            within = (y, mo, d, h)
            continue
        if not option.startswith("--keep-") or rule not in RULES:
            raise UsageError(
                f"--policy: unknown option {option!r} (--keep-last, --keep-hourly, "
                "--keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within)"
            )
        if not value.isdigit() or len(value) > 7:
            raise UsageError(f"--policy: {option} takes a count, not {value!r}")
        counts[rule] = int(value)
    policy = Policy(counts, within, text)
    if policy.empty():
        raise UsageError("--policy names no rule (e.g. '--keep-daily 7 --keep-weekly 5')")
    return policy


def _period(rule: str, when: datetime.datetime) -> tuple[int, ...]:
    if rule == "hourly":
        return (when.year, when.month, when.day, when.hour)
    if rule == "daily":
        return (when.year, when.month, when.day)
    if rule == "weekly":
        iso = when.isocalendar()
        return (iso.year, iso.week)
    if rule == "monthly":
        return (when.year, when.month)
    return (when.year,)


def _minus(newest: datetime.datetime, within: tuple[int, int, int, int]) -> datetime.datetime:
    years, months, days, hours = within
    month = newest.year * 12 + newest.month - 1 - years * 12 - months
    year, month0 = divmod(month, 12)
    day = min(newest.day, 28)  # restic's AddDate normalises; close enough for a stand-in
    base = newest.replace(year=max(year, 1), month=month0 + 1, day=day)
    return base - datetime.timedelta(days=days, hours=hours)


def policy_keeps(commits: Sequence[tuple[bytes, int]], policy: Policy) -> set[bytes]:
    """The commits (id, time in ns) of one branch that ``policy`` keeps."""
    ordered = sorted(commits, key=lambda c: (-c[1], c[0]))  # newest first
    kept: set[bytes] = set()
    for rule, count in policy.counts.items():
        seen: set[tuple[int, ...]] = set()
        for n, (oid, time_ns) in enumerate(ordered):
            if rule == "last":
                if n < count:
                    kept.add(oid)
                continue
            when = datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.UTC)
            period = _period(rule, when)
            if period in seen:
                continue
            if len(seen) >= count:
                break
            seen.add(period)
            kept.add(oid)
    if policy.within is not None and ordered:
        newest = datetime.datetime.fromtimestamp(ordered[0][1] / 1e9, datetime.UTC)
        cutoff = _minus(newest, policy.within)
        kept.update(
            oid
            for oid, time_ns in ordered
            if datetime.datetime.fromtimestamp(time_ns / 1e9, datetime.UTC) > cutoff
        )
    return kept
