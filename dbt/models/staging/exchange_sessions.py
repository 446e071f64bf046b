"""Exchange sessions (date, open, close, expected 1-minute bars) from jonbu_core's calendar.

A table inside dbt's DuckDB file (not ephemeral: Python models cannot be). Early closes and
holidays come from exchange-calendars, so the quality mart knows how many bars a day should
have.
"""

from datetime import date


def model(dbt, session):
    dbt.config(materialized="table")
    import pandas as pd

    from jonbu_core.calendar import get_calendar

    cal = get_calendar(dbt.config.get("exchange") or "XNYS")
    start = max(date.fromisoformat(str(dbt.config.get("sessions_start") or "2000-01-01")),
                cal.first_session.date())
    sched = cal.schedule.loc[pd.Timestamp(start):]
    opens = pd.DatetimeIndex(sched["open"]).tz_convert("UTC")
    closes = pd.DatetimeIndex(sched["close"]).tz_convert("UTC")
    return pd.DataFrame(
        {
            "session_date": [d.date() for d in sched.index],
            "open_utc": opens,
            "close_utc": closes,
            "expected_minutes": ((closes - opens).total_seconds() // 60).astype("int64"),
        }
    )
