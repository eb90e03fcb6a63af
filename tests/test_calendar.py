from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from digest import calendar
from digest._compat import UTC

SEOUL = ZoneInfo("Asia/Seoul")


def test_weekdays_have_listings_and_weekends_do_not() -> None:
    week = [date(2026, 2, 2) + timedelta(days=i) for i in range(7)]  # Mon..Sun
    assert [calendar.is_announcement_day(d) for d in week] == [True] * 5 + [False] * 2
    assert calendar.reason(date(2026, 2, 7)) == "주말"
    assert calendar.reason(date(2026, 2, 5)) == ""


def test_corpus_days_are_announcement_days() -> None:
    for d in ("2026-01-16", "2026-01-19", "2026-02-04", "2026-02-05", "2026-02-06"):
        assert calendar.is_announcement_day(date.fromisoformat(d)), d


def test_a_deferred_evening_removes_the_next_listing() -> None:
    # No announcement on Thanksgiving evening (Thu 27 Nov 2025): no listing dated Fri 28 Nov.
    assert calendar.is_announcement_day(date(2025, 11, 27))
    assert not calendar.is_announcement_day(date(2025, 11, 28))
    assert calendar.reason(date(2025, 11, 28)) == "arXiv 휴일"
    # Sunday 6 July 2025 was deferred: Monday's listing is missing.
    assert not calendar.is_announcement_day(date(2025, 7, 7))
    # MLK Day 2026 evening: no listing dated Tue 20 Jan 2026.
    assert not calendar.is_announcement_day(date(2026, 1, 20))


def test_table_lists_only_evenings_that_would_otherwise_announce() -> None:
    for evening in calendar.NO_ANNOUNCEMENT_EVENINGS:
        assert evening.weekday() not in (4, 5), evening  # arXiv never announces Fri/Sat evenings


def test_announcement_time_is_the_previous_evening_eastern() -> None:
    winter = calendar.announcement_time(date(2026, 2, 5))
    assert winter.tzinfo is not None
    assert winter.astimezone(SEOUL) == datetime(2026, 2, 5, 10, 0, tzinfo=SEOUL)
    summer = calendar.announcement_time(date(2025, 8, 20))
    assert summer.astimezone(UTC) == datetime(2025, 8, 20, 0, 0, tzinfo=UTC)
    monday = calendar.announcement_time(date(2026, 2, 9))
    assert monday.date() == date(2026, 2, 8) and monday.weekday() == 6


def test_previous_announcement_day_skips_weekends_and_holidays() -> None:
    assert calendar.previous_announcement_day(date(2026, 2, 9)) == date(2026, 2, 6)
    assert calendar.previous_announcement_day(date(2026, 2, 6)) == date(2026, 2, 5)
    assert calendar.previous_announcement_day(date(2025, 12, 1)) == date(2025, 11, 27)
    assert calendar.previous_announcement_day(date(2026, 1, 21)) == date(2026, 1, 19)


def test_listing_date_of_feed_stamps() -> None:
    eastern = calendar.EASTERN
    assert calendar.listing_date_of(datetime(2026, 2, 5, 5, 0, tzinfo=UTC)) == date(2026, 2, 5)
    assert calendar.listing_date_of(datetime(2025, 8, 20, 4, 0, 19, tzinfo=UTC)) == date(2025, 8, 20)
    # A stamp from the announcement evening belongs to the listing dated the next day.
    assert calendar.listing_date_of(datetime(2026, 2, 4, 20, 5, tzinfo=eastern)) == date(2026, 2, 5)
