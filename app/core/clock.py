"""Days as learners live them: every "today" is a date in the configured time zone
(Asia/Ho_Chi_Minh), never the server's or UTC's."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local `day` begins."""
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def day_range(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    return day_start(day, tz), day_start(day + timedelta(days=1), tz)
