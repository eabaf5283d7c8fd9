"""Days: the only time whistle records is the current day in the committee's time zone."""

import datetime as dt
from zoneinfo import ZoneInfo

from whistle.services import services


def today(tz: str) -> dt.date:
    """The current day in the committee's time zone: the only time whistle records."""
    return dt.datetime.now(ZoneInfo(tz)).date()


def committee_today() -> dt.date:
    """Today in the time zone of the app serving this request or command."""
    return today(services().config.timezone)
