"""The retention engine's rules on small, hand-checked histories (restic's semantics)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dvault.retention import Candidate, Duration, Policy, PolicyError, apply_policy


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 10**9


def kept(cands: list[Candidate], policy: Policy) -> list[str]:
    return [d.id for d in apply_policy(cands, policy) if d.keep]


DAYS = [
    Candidate("a", at("2025-01-01T10:00")),
    Candidate("b", at("2025-01-01T18:00")),
    Candidate("c", at("2025-01-03T09:00")),
    Candidate("d", at("2025-01-03T23:59")),
    Candidate("e", at("2025-01-10T12:00"), tagged=True),
]


def test_newest_of_each_day_counts_and_empty_days_do_not() -> None:
    assert kept(DAYS, Policy(daily=2)) == ["e", "d"]
    # three periods with a commit: the third is the oldest day's newest, b
    assert kept(DAYS, Policy(daily=3)) == ["e", "d", "b"]


def test_oldest_kept_while_counts_remain() -> None:
    assert kept(DAYS, Policy(daily=10)) == ["e", "d", "b", "a"]
    assert kept(DAYS, Policy(last=1)) == ["e"]


def test_within_is_relative_to_the_newest_commit() -> None:
    assert kept(DAYS, Policy(within=Duration(days=7))) == ["e", "d"]
    assert kept(DAYS, Policy(within=Duration(days=9))) == ["e", "d", "c", "b"]


def test_keep_tags() -> None:
    assert kept(DAYS, Policy(tags=True)) == ["e"]
    assert kept(DAYS, Policy(tags=True, last=2)) == ["e", "d"]


def test_reasons_are_restic_like() -> None:
    first = apply_policy(DAYS, Policy(last=1, daily=1, tags=True))[0]
    assert first.id == "e" and first.reasons == ("tagged", "last", "daily")


def test_empty_policy_keeps_everything() -> None:
    assert len(kept(DAYS, Policy())) == 5 and apply_policy([], Policy(last=1)) == []


def test_future_commit_is_not_the_newest_for_within() -> None:
    """A commit dated after now (a skewed clock) does not move the cutoff (restic's
    findLatestTimestamp); it is itself newer than the cutoff, so kept."""
    future = [*DAYS, Candidate("z", at("2030-01-01T00:00"))]
    decisions = apply_policy(future, Policy(within=Duration(days=7)), now_ns=at("2026-01-01T00:00"))
    assert [d.id for d in decisions if d.keep] == ["z", "e", "d"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("90d", Duration(days=90)), ("2y5m", Duration(2, 5)), ("1y2m3d4h", Duration(1, 2, 3, 4))],
)
def test_duration_parse(text: str, expected: Duration) -> None:
    assert Duration.parse(text) == expected and str(expected) == text


@pytest.mark.parametrize("text", ["", "5", "d", "1w", "-1d", "1d2y", "1d ", "9" * 20 + "d"])
def test_duration_refused(text: str) -> None:
    with pytest.raises(PolicyError, match="invalid duration"):
        Duration.parse(text)


def test_duration_normalises_like_go_adddate() -> None:
    end = datetime(2025, 3, 31, 12, tzinfo=UTC)
    assert Duration(months=1).before(end) == datetime(2025, 3, 3, 12, tzinfo=UTC)
    assert Duration(years=1, hours=13).before(end) == datetime(2024, 3, 30, 23, tzinfo=UTC)
    assert Duration(years=5000).before(end).year == 1


def test_policy_json_round_trip() -> None:
    policy = Policy(last=3, daily=7, within=Duration(days=90), tags=True)
    assert policy.to_json() == {
        "keep_daily": 7,
        "keep_last": 3,
        "keep_tags": True,
        "keep_within": "90d",
    }
    assert Policy.from_json(policy.to_json()) == policy
    assert policy.describe() == "keep-last 3, keep-daily 7, keep-within 90d, keep-tags"
