"""arXiv's announcement rhythm, in listing dates.

arXiv announces Sunday to Thursday at 20:00 US Eastern and labels each listing with the next
day's date (the RSS ``pubDate`` is midnight Eastern of that date). So listings exist for
Monday to Friday, never for Saturday or Sunday, and not for the day after an evening on
which arXiv defers its announcement for a holiday. The digest for day D (in the user's
timezone) uses the listing dated D; in Seoul it is out at 09:00 or 10:00 on D.

Submission windows (what a listing announces as new, for the arXiv API's ``submittedDate``, the
v1 submission time): a paper received before the 14:00 Eastern deadline of a weekday is announced
at 20:00 that evening, under the next day's date. Sunday evening's announcement (the Monday
listing) has Friday's deadline; Friday after 14:00 and the weekend go to Monday evening (the
Tuesday listing). So the listing dated D holds the submissions from the deadline of the previous
listing to its own:

    listing   announced      window (US Eastern)
    Mon       Sun 20:00      Thu 14:00 – Fri 14:00
    Tue       Mon 20:00      Fri 14:00 – Mon 14:00
    Wed       Tue 20:00      Mon 14:00 – Tue 14:00
    Thu       Wed 20:00      Tue 14:00 – Wed 14:00
    Fri       Thu 20:00      Wed 14:00 – Thu 14:00

A deferred evening (the table below) announces nothing: its submissions wait for the next
announcement, whose window then starts at the deadline of the last listing that did appear
(e.g. MLK Day 2026: no listing dated Tue 20 Jan, so Wed 21 Jan holds Fri 16 Jan 14:00 –
Tue 20 Jan 14:00). This is the model the table implies, not arXiv's own record of each day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")
ANNOUNCE_AT = time(20, 0)
DEADLINE_AT = time(14, 0)

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


def deadline(d: date) -> datetime:
    """The submission deadline of the listing dated ``d`` (aware, US Eastern): 14:00 on the weekday of its
    announcement evening, or on the Friday before for Sunday's announcement (the Monday listing)."""
    evening = d - timedelta(days=1)
    while is_weekend(evening):
        evening -= timedelta(days=1)
    return datetime.combine(evening, DEADLINE_AT, tzinfo=EASTERN)


def submission_window(d: date) -> tuple[datetime, datetime]:
    """[start, end) of the v1 submission times the listing dated ``d`` announces (aware, US Eastern):
    from the deadline of the previous listing to its own, so deferred evenings merge into the next."""
    if not is_announcement_day(d):
        raise ValueError(f"there is no arXiv listing dated {d} ({reason(d)})")
    return deadline(previous_announcement_day(d)), deadline(d)


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


def reason_en(d: date) -> str:
    """``reason`` for log lines and errors, which are in English."""
    if is_weekend(d):
        return "a weekend"
    if is_holiday(d):
        return f"arXiv holiday: {NO_ANNOUNCEMENT_EVENINGS[d - timedelta(days=1)]}"
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
