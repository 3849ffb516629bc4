"""The retry policy of the export asset and the freshness policy of the warehouse tables."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from croniter import croniter

from proforma_io.config import Settings

# Enough ticks to see a weekend in a schedule that runs every few minutes on weekdays, and a
# year of a daily or monthly one.
SAMPLED_TICKS = 2000
SAMPLED_SPAN = timedelta(days=400)
MIN_WINDOW = timedelta(minutes=1)


def export_retry_policy(settings: Settings) -> dg.RetryPolicy:
    """Retries of the export asset, growing waits with jitter.

    Safe because a retried export resumes the export recorded in flight rather than starting
    another; errors a retry cannot fix are raised as failures that do not retry.
    """
    operations = settings.operations
    return dg.RetryPolicy(
        max_retries=operations.export_retries,
        delay=operations.export_retry_delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


def warehouse_freshness(settings: Settings, now: datetime | None = None) -> dg.FreshnessPolicy:
    """Fresh while the newest load is younger than the schedule's longest gap plus the grace.

    Warns half-way into the grace period: a scheduled load is late. Fails after it: a load
    was missed.
    """
    schedule = settings.schedule
    gap = longest_gap(schedule.cron, schedule.timezone, now)
    grace = timedelta(minutes=settings.operations.freshness_grace_minutes)
    fail = gap + grace
    warn = gap + grace / 2
    if warn < MIN_WINDOW or warn >= fail:
        return dg.FreshnessPolicy.time_window(fail_window=fail)
    return dg.FreshnessPolicy.time_window(fail_window=fail, warn_window=warn)


def longest_gap(cron: str, timezone: str, now: datetime | None = None) -> timedelta:
    """The longest time between two consecutive ticks of the cron, over the coming ticks."""
    start = (now or datetime.now(UTC)).astimezone(ZoneInfo(timezone))
    ticks = croniter(cron, start)
    previous = ticks.get_next(datetime)
    end = previous + SAMPLED_SPAN
    longest = timedelta(0)
    for _ in range(SAMPLED_TICKS):
        tick = ticks.get_next(datetime)
        if tick.replace(tzinfo=None) == previous.replace(tzinfo=None):
            # The hour repeated when clocks go back: Dagster runs that wall time once.
            continue
        longest = max(longest, tick.astimezone(UTC) - previous.astimezone(UTC))
        previous = tick
        if tick > end:
            break
    return longest
