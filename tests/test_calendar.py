from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

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


# -- submission windows (what the arXiv API's submittedDate gives each listing) -----------------------

EASTERN = ZoneInfo("America/New_York")


def _et(y: int, m: int, d: int, h: int = 14) -> datetime:
    return datetime(y, m, d, h, tzinfo=EASTERN)


def test_a_midweek_listing_holds_one_day_of_submissions() -> None:
    # Wed 4 Feb 2026: announced Tue 3 Feb 20:00, submissions Mon 14:00 to Tue 14:00 (19:00 UTC in winter).
    start, end = calendar.submission_window(date(2026, 2, 4))
    assert (start, end) == (_et(2026, 2, 2), _et(2026, 2, 3))
    assert start.astimezone(UTC) == datetime(2026, 2, 2, 19, tzinfo=UTC)


def test_monday_holds_thursday_to_friday_and_tuesday_the_weekend() -> None:
    assert calendar.submission_window(date(2026, 2, 9)) == (_et(2026, 2, 5), _et(2026, 2, 6))  # Mon
    assert calendar.submission_window(date(2026, 2, 10)) == (_et(2026, 2, 6), _et(2026, 2, 9))  # Tue
    assert calendar.submission_window(date(2026, 2, 6)) == (_et(2026, 2, 4), _et(2026, 2, 5))  # Fri


def test_windows_tile_time_without_gaps_or_overlaps() -> None:
    days = [date(2025, 11, 3) + timedelta(days=i) for i in range(120)]
    windows = [calendar.submission_window(d) for d in days if calendar.is_announcement_day(d)]
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert end == start
    assert all(start < end for start, end in windows)


def test_a_deferred_evening_merges_its_window_into_the_next_listing() -> None:
    # MLK Day 2026 (Mon 19 Jan evening): no listing dated Tue 20 Jan. Its submissions (Fri 16 Jan
    # 14:00 to Mon 19 Jan 14:00) and Monday's wait for Tuesday evening: the Wed 21 Jan listing.
    assert calendar.submission_window(date(2026, 1, 21)) == (_et(2026, 1, 16), _et(2026, 1, 20))
    # Thanksgiving 2025 (Thu 27 Nov evening): no Friday listing; Monday 1 Dec holds Wed 14:00 to Fri 14:00.
    assert calendar.submission_window(date(2025, 12, 1)) == (_et(2025, 11, 26), _et(2025, 11, 28))
    with pytest.raises(ValueError, match="no arXiv listing dated 2026-01-20"):
        calendar.submission_window(date(2026, 1, 20))


def test_the_deadline_follows_daylight_saving_time() -> None:
    # 14:00 Eastern is 19:00 UTC in winter and 18:00 UTC in summer (DST from Sun 8 Mar 2026).
    _, end = calendar.submission_window(date(2026, 3, 10))  # Tue: the deadline is Mon 9 Mar, EDT
    assert end.astimezone(UTC) == datetime(2026, 3, 9, 18, tzinfo=UTC)
    start, _ = calendar.submission_window(date(2026, 3, 9))  # Mon: from Thu 5 Mar, EST
    assert start.astimezone(UTC) == datetime(2026, 3, 5, 19, tzinfo=UTC)
