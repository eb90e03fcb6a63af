"""Crontab expressions as APScheduler triggers, with crontab's own weekday numbering.

Its own module because both the config (to validate ``[schedule]`` at load) and the scheduler need
it: the config must not import the scheduler, which sits at the far edge of the flow.
"""

from __future__ import annotations

from typing import Any

from apscheduler.triggers.cron import CronTrigger

_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]  # crontab numbering: 0 (and 7) = Sunday

# The nicknames of Vixie cron (crontab(5)). @reboot is left out: a service has no "boot" to run at.
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _weekday(token: str) -> int:
    t = token.strip().lower()
    if t.isdigit() and int(t) <= 7:
        return int(t)
    if t in _WEEKDAYS:
        return _WEEKDAYS.index(t)
    raise ValueError(f"{token!r} is not a day of the week (0-7 or sun-sat)")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3 weekday names.

    APScheduler 3 counts 0 as Monday, also in ``CronTrigger.from_crontab`` (its issue #286), so
    the default "1-5" would mean Tuesday to Saturday. Names mean the same in both.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            first, last = span.split("-", 1)
            lo, hi = _weekday(first), _weekday(last)
        else:
            lo = _weekday(span)
            hi = 6 if step else lo  # "1/2": from Monday to the end of the week, every other day
        if lo > hi or (step and not step.isdigit()) or step == "0":
            raise ValueError(f"{part!r} is not a valid day-of-week range")
        days.update(n % 7 for n in range(lo, hi + 1, int(step or 1)))
    return ",".join(_WEEKDAYS[n] for n in sorted(days, key=lambda n: (n - 1) % 7))


def expand_alias(expr: str) -> str:
    """``@daily`` and the other crontab nicknames as their 5 fields; anything else unchanged."""
    text = expr.strip()
    if not text.startswith("@"):
        return expr
    fields = ALIASES.get(text.lower())
    if fields is None:
        known = ", ".join(ALIASES)
        raise ValueError(f"{text!r} is not a crontab nickname this scheduler knows ({known})")
    return fields


def crontab_trigger(expr: str, tz: Any) -> CronTrigger:
    """A 5-field crontab expression (or nickname), with crontab weekday numbers, as a CronTrigger."""
    fields = expand_alias(expr).split()
    if len(fields) != 5:
        raise ValueError(f"a crontab expression has 5 fields, not {len(fields)}: {expr!r}")
    minute, hour, day, month, weekdays = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=crontab_weekdays(weekdays), timezone=tz
    )
