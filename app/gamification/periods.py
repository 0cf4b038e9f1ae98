"""Board periods as keys: `all`, an ISO week `2026-W48` (Monday to Sunday), a month
`2026-11`, a day `2026-11-23`; every day an Asia/Ho_Chi_Minh date."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

PeriodName = Literal["all", "week", "month"]
PERIOD_NAMES: tuple[PeriodName, ...] = ("all", "week", "month")
PERIOD_LABELS = {"all": "Mọi lúc", "week": "Tuần này", "month": "Tháng này"}
ALL = "all"
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_key(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def day_key(day: date) -> str:
    return day.isoformat()


def keys_for_day(day: date) -> tuple[str, str, str, str]:
    """Every tally an event on `day` adds to."""
    return ALL, week_key(day), month_key(day), day_key(day)


def is_day(key: str) -> bool:
    """A day's tally (kept for the daily cap), which is on no board."""
    return bool(_DAY.match(key))


DAY_PATTERN = "____-__-__"  # the same, as a SQL LIKE pattern


def key_for(name: PeriodName, day: date) -> str:
    if name == "all":
        return ALL
    return week_key(day) if name == "week" else month_key(day)


@dataclass(frozen=True)
class Span:
    key: str
    first: date
    last: date  # inclusive

    @property
    def label(self) -> str:
        if self.key == ALL:
            return "Mọi lúc"
        if "W" in self.key:
            return f"Tuần {self.first:%d/%m} – {self.last:%d/%m/%Y}"
        return f"Tháng {self.first.month}/{self.first.year}"


def span(key: str) -> Span:
    """The days a week or month key covers; raises ValueError for anything else."""
    if m := _WEEK.match(key):
        first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        return Span(key, first, first + timedelta(days=6))
    if m := _MONTH.match(key):
        year, month = int(m[1]), int(m[2])
        first = date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        return Span(key, first, nxt - timedelta(days=1))
    if key == ALL:
        return Span(ALL, date.min, date.max)
    if _DAY.match(key):
        day = date.fromisoformat(key)
        return Span(key, day, day)
    raise ValueError(key)


def previous(key: str) -> str:
    s = span(key)
    before = s.first - timedelta(days=1)
    return week_key(before) if "W" in key else month_key(before)


def following(key: str) -> str:
    s = span(key)
    after = s.last + timedelta(days=1)
    return week_key(after) if "W" in key else month_key(after)
