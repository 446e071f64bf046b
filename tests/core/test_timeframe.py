"""Timeframe parsing and bucketing (with hypothesis properties)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jonbu_core.errors import InvalidInputError
from jonbu_core.timeframe import EXCHANGE_TZ, TIMEFRAMES, parse_timeframe

utc_times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
any_zone_times = st.datetimes(
    min_value=datetime(1990, 1, 2), max_value=datetime(2040, 1, 1),
    timezones=st.sampled_from([UTC, EXCHANGE_TZ, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3))]),
)
names = st.sampled_from(list(TIMEFRAMES))


@pytest.mark.parametrize("name", list(TIMEFRAMES))
def test_parse_round_trips(name: str) -> None:
    tf = parse_timeframe(name)
    assert tf.name == name and str(tf) == name and parse_timeframe(tf) is tf


@pytest.mark.parametrize("alias,name", [("1MIN", "1m"), (" 60m ", "1h"), ("1day", "1d"), ("240m", "4h")])
def test_aliases(alias: str, name: str) -> None:
    assert parse_timeframe(alias).name == name


@pytest.mark.parametrize("bad", ["", "2m", "1y", "m1", "1 m"])
def test_unknown_timeframes_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidInputError, match="expected one of"):
        parse_timeframe(bad)


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(InvalidInputError):
        TIMEFRAMES["1m"].bucket(datetime(2024, 1, 2, 14, 30))


def test_known_labels() -> None:
    ts = datetime(2024, 1, 2, 14, 37, 12, tzinfo=UTC)
    assert TIMEFRAMES["5m"].bucket(ts) == datetime(2024, 1, 2, 14, 35, tzinfo=UTC)
    assert TIMEFRAMES["4h"].bucket(ts) == datetime(2024, 1, 2, 12, tzinfo=UTC)
    assert TIMEFRAMES["1d"].bucket(ts) == datetime(2024, 1, 2, 5, tzinfo=UTC)  # EST
    assert TIMEFRAMES["1d"].bucket(datetime(2024, 7, 1, 14, tzinfo=UTC)) == datetime(2024, 7, 1, 4, tzinfo=UTC)  # EDT
    # 01:00 UTC on Jan 3 is still Jan 2 in New York
    assert TIMEFRAMES["1d"].bucket(datetime(2024, 1, 3, 1, tzinfo=UTC)) == datetime(2024, 1, 2, 5, tzinfo=UTC)
    assert TIMEFRAMES["1w"].bucket(ts) == datetime(2024, 1, 1, 5, tzinfo=UTC)  # Monday
    # DST: the day after the spring change is 23 hours long
    assert TIMEFRAMES["1d"].next_open(datetime(2024, 3, 10, 5, tzinfo=UTC)) == datetime(2024, 3, 11, 4, tzinfo=UTC)


@settings(max_examples=300, deadline=None)
@given(ts=any_zone_times, name=names)
def test_bucket_contains_the_timestamp(ts: datetime, name: str) -> None:
    tf = TIMEFRAMES[name]
    label = tf.bucket(ts)
    assert label.tzinfo is not None and label.utcoffset() == timedelta(0)
    assert label <= ts < tf.next_open(label)
    assert tf.bucket(label) == label  # idempotent
    assert tf.bucket(tf.next_open(label)) == tf.next_open(label)


@settings(max_examples=300, deadline=None)
@given(ts=utc_times, name=st.sampled_from([n for n, t in TIMEFRAMES.items() if t.is_intraday]))
def test_intraday_buckets_are_epoch_aligned(ts: datetime, name: str) -> None:
    tf = TIMEFRAMES[name]
    label = tf.bucket(ts)
    assert int(label.timestamp()) % tf.seconds == 0
    assert label + tf.delta == tf.next_open(label)
    ns = int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000
    assert tf.bucket_ns(ns) == int(label.timestamp()) * 1_000_000_000


@settings(max_examples=200, deadline=None)
@given(ts=any_zone_times)
def test_daily_and_weekly_labels_are_new_york_midnights(ts: datetime) -> None:
    day = TIMEFRAMES["1d"].bucket(ts).astimezone(EXCHANGE_TZ)
    week = TIMEFRAMES["1w"].bucket(ts).astimezone(EXCHANGE_TZ)
    assert (day.hour, day.minute) == (0, 0) and day.date() == ts.astimezone(EXCHANGE_TZ).date()
    assert (week.hour, week.minute, week.weekday()) == (0, 0, 0) and week <= day


@settings(max_examples=200, deadline=None)
@given(ts=utc_times)
def test_coarser_buckets_nest(ts: datetime) -> None:
    chain = ["1m", "5m", "15m", "30m", "1h", "4h"]
    for fine, coarse in itertools.pairwise(chain):
        assert TIMEFRAMES[coarse].bucket(TIMEFRAMES[fine].bucket(ts)) == TIMEFRAMES[coarse].bucket(ts)
    assert TIMEFRAMES["1d"].bucket(TIMEFRAMES["1h"].bucket(ts)) == TIMEFRAMES["1d"].bucket(ts)
