"""Retention policies: which commits of a history a ``forget`` keeps (restic's rules).

Pure: a list of (id, time, tagged) in, a decision per commit out. The rules and their
vocabulary are restic's (``restic forget``; internal/restic/snapshot_policy.go,
``ApplyPolicy``), so a team that knows one knows the other:

* commits are taken newest first;
* ``keep_last N`` keeps the N newest;
* ``keep_hourly/daily/weekly/monthly/yearly N``: for each rule, the newest commit of each
  calendar period (hour, day, ISO week, month, year) counts, until N periods were counted;
  a period with no commit does not count; when the oldest commit is reached and a rule
  still has counts left, the oldest commit is kept too (restic 0.17 and later);
* ``keep_within DURATION`` (``90d``, ``2y5m``, ``1y2m3d4h``) keeps every commit newer than
  the newest commit's time minus the duration (calendar arithmetic, as Go's
  ``time.AddDate``: 31 March minus one month is 3 March), not now minus the duration;
* ``keep_tags`` keeps every commit a tag points at (tags are not counted).

One deviation: restic buckets each snapshot in the time zone it recorded; a dvault commit
records an instant only, so periods are calendar periods in UTC.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from dvault.errors import UsageError

RULES = ("last", "hourly", "daily", "weekly", "monthly", "yearly")
_DURATION = re.compile(r"(?:(\d{1,4})y)?(?:(\d{1,4})m)?(?:(\d{1,5})d)?(?:(\d{1,6})h)?")


class PolicyError(ValueError):
    """A policy or duration that cannot be used (the message is one line for the user)."""


@dataclass(frozen=True)
class Duration:
    """restic's ``--keep-within`` duration: years, months, days and hours."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise PolicyError(
                f"invalid duration {text!r}: use numbers followed by y, m, d, h (e.g. 90d, 2y5m)"
            )
        years, months, days, hours = (int(g or 0) for g in match.groups())
        return cls(years, months, days, hours)

    def __str__(self) -> str:
        parts = zip((self.years, self.months, self.days, self.hours), "ymdh", strict=True)
        return "".join(f"{n}{unit}" for n, unit in parts if n) or "0h"

    def before(self, when: datetime) -> datetime:
        """``when`` minus this duration, as Go's ``AddDate(-y, -m, -d)`` then ``-h``:
        the date is normalised (31 March minus a month is 3 March)."""
        month0 = when.month - 1 - self.months
        year = when.year - self.years + month0 // 12
        try:
            first = when.replace(year=year, month=month0 % 12 + 1, day=1)
            return first + timedelta(days=when.day - 1 - self.days, hours=-self.hours)
        except (ValueError, OverflowError):  # before year 1: everything is within
            return datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Policy:
    """What to keep; zero counts are rules not given."""

    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within: Duration | None = None
    tags: bool = False

    def empty(self) -> bool:
        return self == Policy()

    def counts(self) -> tuple[int, ...]:
        return (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)

    def to_json(self) -> dict[str, Any]:
        """The ``policy`` object of a forget entry (logentry.Action): given rules only."""
        value: dict[str, Any] = {
            f"keep_{rule}": n for rule, n in zip(RULES, self.counts(), strict=True) if n
        }
        if self.within is not None:
            value["keep_within"] = str(self.within)
        if self.tags:
            value["keep_tags"] = True
        return value

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Policy:
        """A policy as a forget entry stores it (already validated by the decoder)."""
        counts = {rule: int(value.get(f"keep_{rule}", 0)) for rule in RULES}
        within = value.get("keep_within")
        return cls(
            **counts,
            within=None if within is None else Duration.parse(str(within)),
            tags=bool(value.get("keep_tags", False)),
        )

    def describe(self) -> str:
        parts = [f"keep-{rule} {n}" for rule, n in zip(RULES, self.counts(), strict=True) if n]
        if self.within is not None:
            parts.append(f"keep-within {self.within}")
        if self.tags:
            parts.append("keep-tags")
        return ", ".join(parts) or "empty"


MAX_POLICY_TEXT = 1024
"""The longest policy text :func:`parse_policy` reads (a policy is a handful of options)."""


def parse_policy(text: str) -> Policy:
    """Forget's options as one text (``dvault remote du --policy``), e.g. ``"--keep-daily
    7 --keep-weekly 5 --keep-within 90d --keep-tags"``, as a :class:`Policy`; each bad
    option is one :class:`UsageError` line."""
    if len(text) > MAX_POLICY_TEXT:
        raise UsageError(f"--policy is longer than {MAX_POLICY_TEXT} characters")
    try:
        words = [part for word in shlex.split(text) for part in word.split("=", 1)]
    except ValueError as exc:
        raise UsageError(f"--policy: {exc}") from None
    counts: dict[str, int] = {}
    within: Duration | None = None
    tags = False
    while words:
        option = words.pop(0)
        rule = option.removeprefix("--keep-")
        if option == "--keep-tags":
            tags = True
            continue
        if not option.startswith("--keep-") or rule not in (*RULES, "within"):
            raise UsageError(
                f"--policy: unknown option {option!r} (--keep-last, --keep-hourly, "
                "--keep-daily, --keep-weekly, --keep-monthly, --keep-yearly, --keep-within, "
                "--keep-tags)"
            )
        if not words:
            raise UsageError(f"--policy: {option} needs a value (e.g. '--keep-daily 7')")
        value = words.pop(0)
        if rule == "within":
            try:
                within = Duration.parse(value)
            except PolicyError as exc:
                raise UsageError(f"--policy: --keep-within: {exc}") from None
            continue
        if not value.isdigit() or len(value) > 7:
            raise UsageError(f"--policy: {option} takes a count, not {value!r}")
        counts[rule] = int(value)
    policy = Policy(**counts, within=within, tags=tags)
    if policy.empty():
        raise UsageError("--policy names no --keep-* rule (e.g. '--keep-daily 7 --keep-weekly 5')")
    return policy


@dataclass(frozen=True)
class Candidate:
    """One commit of the history a policy is applied to."""

    id: str
    time_ns: int
    tagged: bool = False


@dataclass(frozen=True)
class Decision:
    """Whether a policy keeps a commit, and which rules keep it (restic's reasons)."""

    id: str
    time_ns: int
    keep: bool
    reasons: tuple[str, ...]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(time_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=time_ns // 1000)


def _bucketers() -> tuple[Callable[[datetime, int], int], ...]:
    def week(d: datetime, _nr: int) -> int:
        year, number, _ = d.isocalendar()
        return year * 100 + number

    return (
        lambda _d, nr: nr,
        lambda d, _nr: ((d.year * 100 + d.month) * 100 + d.day) * 100 + d.hour,
        lambda d, _nr: (d.year * 100 + d.month) * 100 + d.day,
        week,
        lambda d, _nr: d.year * 100 + d.month,
        lambda d, _nr: d.year,
    )


def apply_policy(
    candidates: Iterable[Candidate], policy: Policy, now_ns: int | None = None
) -> list[Decision]:
    """Every candidate, newest first, with whether ``policy`` keeps it (restic's
    ``ApplyPolicy``). An empty policy keeps everything, as restic's does; callers that
    forget refuse one. ``now_ns``: commits dated after it (clock skew) are not taken as
    the newest for ``keep_within`` (restic's ``findLatestTimestamp``)."""
    ordered = sorted(candidates, key=lambda c: c.time_ns, reverse=True)  # stable: ties keep order
    if policy.empty():
        return [Decision(c.id, c.time_ns, True, ("policy is empty",)) for c in ordered]
    if not ordered:
        return []
    limit = now_ns if now_ns is not None else max(c.time_ns for c in ordered) + 1
    past = [c.time_ns for c in ordered if c.time_ns < limit]
    latest = _utc(max(past)) if past else _utc(0)
    cutoff = policy.within.before(latest) if policy.within is not None else None
    counts = list(policy.counts())
    last: list[int | None] = [None] * len(counts)
    bucketers = _bucketers()
    decisions = []
    for nr, cand in enumerate(ordered):
        when = _utc(cand.time_ns)
        reasons: list[str] = []
        if policy.tags and cand.tagged:
            reasons.append("tagged")
        if cutoff is not None and when > cutoff:
            reasons.append(f"within {policy.within}")
        for i, rule in enumerate(RULES):
            if counts[i] <= 0:
                continue
            value = bucketers[i](when, nr)
            if value != last[i] or nr == len(ordered) - 1:
                last[i] = value
                counts[i] -= 1
                reasons.append("last" if rule == "last" else f"{rule}")
        decisions.append(Decision(cand.id, cand.time_ns, bool(reasons), tuple(reasons)))
    return decisions
