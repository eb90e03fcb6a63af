"""arXiv's announcement rhythm, in listing dates.

arXiv announces Sunday to Thursday at 20:00 US Eastern and labels each listing with the next
day's date (the RSS ``pubDate`` is midnight Eastern of that date). So listings exist for
Monday to Friday, never for Saturday or Sunday, and not for the day after an evening on
which arXiv defers its announcement for a holiday. The digest for day D (in the user's
timezone) uses the listing dated D; in Seoul it is out at 09:00 or 10:00 on D.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
ANNOUNCE_AT = time(20, 0)

# A table, not a rule: evenings (US Eastern) on which arXiv makes no announcement, as listed
# under "Deferred mailings" on https://info.arxiv.org/help/availability.html and the arXiv
# status page. The listing that would be dated the next day does not exist. arXiv publishes
# each year's dates (December's late); the entries marked "expected" follow its usual
# pattern (US federal holidays, Christmas to New Year) and should be checked against
# status.arxiv.org when the year's schedule is out. Evenings that fall on Friday or
# Saturday are left out: there is no announcement on those anyway.
NO_ANNOUNCEMENT_EVENINGS: dict[date, str] = {
    date(2025, 1, 1): "New Year's Day",
    date(2025, 1, 20): "Martin Luther King Jr. Day",
    date(2025, 6, 19): "Juneteenth",
    date(2025, 7, 6): "Independence Day weekend",
    date(2025, 9, 1): "Labor Day",
    date(2025, 11, 27): "Thanksgiving",
    date(2025, 12, 24): "Christmas Eve (expected)",
    date(2025, 12, 25): "Christmas (expected)",
    date(2025, 12, 31): "New Year's Eve (expected)",
    date(2026, 1, 1): "New Year's Day (expected)",
    date(2026, 1, 19): "Martin Luther King Jr. Day (expected)",
    date(2026, 9, 7): "Labor Day (expected)",
    date(2026, 11, 26): "Thanksgiving (expected)",
    date(2026, 12, 24): "Christmas Eve (expected)",
    date(2026, 12, 31): "New Year's Eve (expected)",
}


def is_weekend(d: date) -> bool:
    return d.weekday() >= 5


def is_holiday(d: date) -> bool:
    """True when the listing dated ``d`` is skipped because of a deferred announcement."""
    return (d - timedelta(days=1)) in NO_ANNOUNCEMENT_EVENINGS


def is_announcement_day(d: date) -> bool:
    """Whether arXiv publishes a listing dated ``d``."""
    return not is_weekend(d) and not is_holiday(d)


def announcement_time(d: date) -> datetime:
    """When the listing dated ``d`` is announced: 20:00 US Eastern the evening before (aware)."""
    return datetime.combine(d - timedelta(days=1), ANNOUNCE_AT, tzinfo=EASTERN)


def previous_announcement_day(d: date) -> date:
    """The latest listing date strictly before ``d``."""
    day = d - timedelta(days=1)
    while not is_announcement_day(day):
        day -= timedelta(days=1)
    return day


def reason(d: date) -> str:
    """Why there is no listing dated ``d``, in Korean for the reader; "" on an announcement day."""
    if is_weekend(d):
        return "주말"
    if is_holiday(d):
        return "arXiv 휴일"
    return ""


def listing_date_of(stamp: datetime) -> date:
    """The listing date a feed timestamp belongs to.

    arXiv stamps a listing at midnight Eastern of its date; a stamp at or after the 20:00
    announcement belongs to the listing announced that evening, dated the next day.
    """
    local = stamp.astimezone(EASTERN)
    if local.time() >= ANNOUNCE_AT:
        return local.date() + timedelta(days=1)
    return local.date()
