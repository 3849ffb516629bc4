"""When the client repeats an HTTP call, and how long it waits first (with tenacity).

A GET is repeated after a connection error, a timeout, 429 or a 5xx answer. A POST is repeated
only when the server cannot have acted on it: the connection failed before the request left,
or the server refused it with 429 or 503. Any other POST failure is final, since a repeated
start would run a second export and a repeated add would add a second form. No other 4xx is
ever repeated, and downloads are never repeated here (a file can be downloaded only once).
A certificate the client cannot verify is not tried again either: waiting will not fix it.
"""

from __future__ import annotations

import logging
import math
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_exponential

from proforma_io.errors import ApiConnectionError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers that say the server did not act on the request at all: safe to send a POST again.
REFUSED_STATUSES = frozenset({429, 503})
# Failures that happen before any byte of the request reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """How often one HTTP call is tried and how long the client waits between tries.

    `attempts` counts the first try. Waits start at `backoff` seconds and double up to
    `max_wait`; a `Retry-After` header (seconds, `0` included, or an HTTP date) sets the wait
    instead. When the server asks for a longer wait than `max_wait`, the call fails at once.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"retry attempts must be at least 1, not {self.attempts}")
        if self.backoff < 0 or self.max_wait < 0:
            raise ValueError(
                f"retry waits must not be negative: backoff {self.backoff}, max {self.max_wait}"
            )


def retrying(
    policy: RetryPolicy,
    operation: str,
    method: str,
    *,
    sleep: Callable[[float], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Retrying:
    """A tenacity `Retrying` for one call; it hands back the last answer when it gives up."""
    idempotent = method.upper() in ("GET", "HEAD", "OPTIONS")

    def should_retry(state: RetryCallState) -> bool:
        outcome = state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            error = outcome.exception()
            if not isinstance(error, ApiConnectionError) or _certificate_refused(error):
                return False
            return idempotent or isinstance(error.__cause__, _NOT_SENT)
        statuses = RETRY_STATUSES if idempotent else REFUSED_STATUSES
        return outcome.result().status_code in statuses

    def wait(state: RetryCallState) -> float:
        delay = _asked_wait(state, now)
        if delay is not None:
            return delay
        backoff = wait_exponential(multiplier=policy.backoff, max=policy.max_wait)
        return float(backoff(state))

    def stop(state: RetryCallState) -> bool:
        if stop_after_attempt(policy.attempts)(state):
            return True
        delay = _asked_wait(state, now)
        return delay is not None and delay > policy.max_wait

    return Retrying(
        stop=stop,
        wait=wait,
        retry=should_retry,
        sleep=sleep,
        before_sleep=_log_retry(operation, policy.attempts),
        retry_error_callback=_last_outcome,
    )


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """The wait a `Retry-After` header asks for, in seconds: a number or an HTTP date."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


def _certificate_refused(error: BaseException) -> bool:
    """Whether the error, or any error behind it, is a failed certificate verification."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _asked_wait(state: RetryCallState, now: Callable[[], datetime]) -> float | None:
    outcome = state.outcome
    if outcome is None or outcome.failed:
        return None
    return retry_after(outcome.result(), now())


def _last_outcome(state: RetryCallState) -> httpx.Response:
    """The last answer, for the caller to turn into an error; a last exception is raised."""
    assert state.outcome is not None
    return state.outcome.result()  # type: ignore[no-any-return]


def _log_retry(operation: str, attempts: int) -> Callable[[RetryCallState], None]:
    def log(state: RetryCallState) -> None:
        outcome = state.outcome
        if outcome is None:
            return
        reason = outcome.exception() if outcome.failed else outcome.result().status_code
        wait = state.upcoming_sleep
        logger.info(
            "Retrying %s in %.1f s after attempt %d of %d: %s",
            operation,
            wait,
            state.attempt_number,
            attempts,
            reason,
        )

    return log
