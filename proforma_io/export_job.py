"""`run_export`: start an export (or resume the one in flight), poll it, download it once, land it.

The landing folder is checked writable first; an export's id is recorded in the landing
directory right after the start call, so a run that crashes or times out while polling resumes
that export next time instead of starting another.
An export that fails, vanishes or cannot be downloaded is given up for a new one after a
cool-down, a bounded number of times (see `export_restarts`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from proforma_io import export_restarts
from proforma_io.client import ProformaClient
from proforma_io.errors import (
    ExportTimeoutError,
    ForeignDownloadError,
    LandingError,
    NotFoundError,
)
from proforma_io.export_restarts import RestartNeeded
from proforma_io.landing import (
    CompletedExport,
    ExportRestart,
    InFlightExport,
    LandedExport,
    Landing,
)
from proforma_io.models import ExportFormat, ExportRequest, ExportStatus, export_type_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSpec:
    """One export to run: a project's form template, in one file format."""

    project_key: str
    template_id: int
    format: ExportFormat
    fields: tuple[str, ...] = ()
    jql: str | None = None
    table: str | None = None

    def __post_init__(self) -> None:
        export_type_for(self.format)

    def __str__(self) -> str:
        return f"{self.project_key} template {self.template_id}"

    def request(self) -> ExportRequest:
        """The API request that starts this export."""
        return ExportRequest(
            type=export_type_for(self.format),
            project_key=self.project_key,
            template_form_id=self.template_id,
            fields=list(self.fields) or None,
            jql=self.jql,
        )


@dataclass(frozen=True)
class PollPolicy:
    """How often to ask for an export's status, and for how long; how often to start a new
    export instead of one that failed, vanished or broke, and how long to wait first."""

    initial_interval: float = 0.5
    max_interval: float = 10.0
    multiplier: float = 1.5
    deadline_seconds: float = 1800.0
    restarts: int = 2
    restart_cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.initial_interval <= 0 or self.max_interval < self.initial_interval:
            raise ValueError(
                f"poll intervals must satisfy 0 < initial ({self.initial_interval}) "
                f"<= max ({self.max_interval})"
            )
        if self.multiplier < 1:
            raise ValueError(f"poll multiplier must be at least 1, not {self.multiplier}")
        if self.deadline_seconds <= 0:
            raise ValueError(f"poll deadline must be positive, not {self.deadline_seconds}")
        if self.restarts < 0 or self.restart_cooldown < 0:
            raise ValueError(
                f"restarts ({self.restarts}) and their cool-down ({self.restart_cooldown} s) "
                "must not be negative"
            )

    def intervals(self) -> Iterator[float]:
        """The waits between polls: growing by `multiplier` up to `max_interval`."""
        interval = self.initial_interval
        while True:
            yield interval
            interval = min(interval * self.multiplier, self.max_interval)


def run_export(
    client: ProformaClient,
    spec: ExportSpec,
    landing: Landing,
    *,
    policy: PollPolicy = PollPolicy(),  # noqa: B008 - frozen, so sharing it is safe
    on_progress: Callable[[ExportStatus], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LandedExport:
    """Run one export end to end and return its landed record.

    An export recorded in flight for the same request is resumed while the server still knows
    it; otherwise a new one is started and recorded. The file is downloaded once (again only
    while the server still lists it). An export that fails, vanishes, breaks its download, or
    makes no progress over a whole deadline after a run gave up waiting for it, is given up:
    after `policy.restart_cooldown` seconds a new one starts, at most `policy.restarts` times,
    each recorded with its reason; the last failure is raised with the server's message. Each
    export's deadline counts from this call or from its restart. A landing folder that cannot
    be written raises `LandingError` before any export is started.
    """
    job = _Job(client, spec, landing, policy, on_progress, sleep, clock)
    landing.ensure_writable(spec.project_key, spec.template_id)
    started = clock()
    flight, status, resumed = _resume_or_start(client, spec, landing)
    while True:
        try:
            return _complete(job, flight, status, resumed, started)
        except RestartNeeded as restart:
            flight, status = _restart(job, flight, restart)
            resumed, started = False, clock()
        except ForeignDownloadError:
            landing.clear_in_flight(spec.project_key, spec.template_id, flight.export_id)
            raise


@dataclass(frozen=True)
class _Job:
    """What one `run_export` call works with."""

    client: ProformaClient
    spec: ExportSpec
    landing: Landing
    policy: PollPolicy
    on_progress: Callable[[ExportStatus], None] | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]


def _complete(
    job: _Job, flight: InFlightExport, status: ExportStatus, resumed: bool, started: float
) -> LandedExport:
    """Wait for one export, download its file and land it; `RestartNeeded` if it cannot be."""
    spec, landing = job.spec, job.landing

    def gave_up(last: ExportStatus) -> None:
        stalled = export_restarts.stalled(flight, last)
        if stalled is not None:
            raise stalled
        landing.record_in_flight(flight.model_copy(update={"timed_out_at": last.progress}))

    try:
        status, polls = _wait_until_complete(job, status, started, gave_up)
    except NotFoundError as exc:
        raise export_restarts.vanished(status.id, str(spec), exc) from exc
    completed_at = datetime.now(UTC)
    elapsed = job.clock() - started
    waited = (completed_at - flight.started_at).total_seconds() if resumed else elapsed

    if status.failed:
        raise export_restarts.failed(status, str(spec))
    if not status.download_url:
        raise export_restarts.without_download_url(status, str(spec))
    completed = CompletedExport(
        project_key=spec.project_key,
        template_id=spec.template_id,
        format=spec.format,
        export_type=export_type_for(spec.format),
        export_id=status.id,
        fields=list(spec.fields),
        jql=spec.jql,
        started_at=flight.started_at,
        completed_at=completed_at,
        wait_seconds=round(max(waited, 0.0), 3),
        polls=polls,
        resumed=resumed,
        replaces=flight.replaces,
        restarts=flight.restarts,
    )

    landed = export_restarts.download_and_land(job.client, landing, completed, status)
    logger.info(
        "Landed export %s of %s: %s, %d bytes, sha256 %s, after %d polls and %.1f s",
        landed.export_id,
        spec,
        landed.path,
        landed.size_bytes,
        landed.sha256[:12],
        polls,
        waited,
    )
    return landed


def _restart(
    job: _Job, flight: InFlightExport, restart: RestartNeeded
) -> tuple[InFlightExport, ExportStatus]:
    """Give the export up and start a new one after the cool-down, or raise the final error."""
    spec, landing, policy = job.spec, job.landing, job.policy
    if len(flight.restarts) >= policy.restarts:
        landing.clear_in_flight(spec.project_key, spec.template_id, flight.export_id)
        cause = restart.__cause__ or restart.__context__
        raise restart.final(export_restarts.history(flight.restarts)) from cause

    logger.warning(
        "Export %s of %s %s; starting a new export in %g s (restart %d of at most %d)",
        restart.export_id,
        spec,
        restart.reason,
        policy.restart_cooldown,
        len(flight.restarts) + 1,
        policy.restarts,
    )
    job.sleep(policy.restart_cooldown)
    restarts = [*flight.restarts, restart.record()]
    return _start(job.client, spec, landing, flight.export_id, restarts)


def _resume_or_start(
    client: ProformaClient, spec: ExportSpec, landing: Landing
) -> tuple[InFlightExport, ExportStatus, bool]:
    """The export in flight for `spec` if the server still knows it, else a new recorded one.

    Returns the in-flight record, the export's current status and whether it was resumed.
    """
    # Limitation: the record is not a lock. Two runs of one template at the same moment both
    # resume the same export; the first to download lands it and the second finds the file gone
    # and starts a new export. The production instance allows one run per project.
    previous = landing.in_flight(spec.project_key, spec.template_id)
    restarts: list[ExportRestart] = []
    if previous is not None and not _same_request(previous, spec):
        logger.warning(
            "Export %s of %s was in flight for another request (type, fields or JQL changed); "
            "starting a new export instead of resuming it",
            previous.export_id,
            spec,
        )
    elif previous is not None:
        try:
            status = client.export_status(previous.export_id)
        except NotFoundError:
            logger.warning(
                "Export %s of %s, in flight since %s, is unknown to the server (it vanished or "
                "was downloaded but never landed); starting a new export",
                previous.export_id,
                spec,
                f"{previous.started_at:%Y-%m-%d %H:%M:%S} UTC",
            )
            gone = ExportRestart(
                export_id=previous.export_id,
                reason="unknown to the server when resumed (404 on its status)",
                at=datetime.now(UTC),
            )
            restarts = [*previous.restarts, gone]
        else:
            logger.info(
                "Resuming export %s of %s, in flight since %s (%d%% done)",
                status.id,
                spec,
                f"{previous.started_at:%Y-%m-%d %H:%M:%S} UTC",
                status.progress,
            )
            return previous, status, True

    replaces = previous.export_id if previous is not None else None
    flight, status = _start(client, spec, landing, replaces, restarts)
    return flight, status, False


def _start(
    client: ProformaClient,
    spec: ExportSpec,
    landing: Landing,
    replaces: str | None,
    restarts: list[ExportRestart],
) -> tuple[InFlightExport, ExportStatus]:
    """Start a new export and record it in flight before anything else happens."""
    started_at = datetime.now(UTC)
    status = client.start_export(spec.request())
    flight = InFlightExport(
        project_key=spec.project_key,
        template_id=spec.template_id,
        format=spec.format,
        export_type=export_type_for(spec.format),
        export_id=status.id,
        fields=list(spec.fields),
        jql=spec.jql,
        started_at=started_at,
        replaces=replaces,
        restarts=restarts,
    )
    try:
        landing.record_in_flight(flight)
    except LandingError as exc:
        raise LandingError(
            f"export {status.id} of {spec} was started but not recorded in flight, so no run "
            f"will resume it: {exc}"
        ) from exc
    logger.info("Started export %s of %s (%s)", status.id, spec, status.type)
    return flight, status


def _same_request(flight: InFlightExport, spec: ExportSpec) -> bool:
    """Whether the recorded export asked for what `spec` asks for."""
    return (
        flight.export_type == export_type_for(spec.format)
        and flight.fields == list(spec.fields)
        and flight.jql == spec.jql
    )


def _wait_until_complete(
    job: _Job, status: ExportStatus, started: float, gave_up: Callable[[ExportStatus], None]
) -> tuple[ExportStatus, int]:
    """Poll until the server says complete (or failed); returns the last status and poll count.

    Past the deadline, `gave_up` sees the last status before `ExportTimeoutError` is raised.
    """
    spec, policy, clock, on_progress = job.spec, job.policy, job.clock, job.on_progress
    polls = 0
    if on_progress:
        on_progress(status)

    intervals = policy.intervals()
    while not (status.complete or status.failed):
        elapsed = clock() - started
        remaining = policy.deadline_seconds - elapsed
        if remaining <= 0:
            # The export stays recorded in flight, so the next attempt resumes it rather than
            # starting another (unless it made no progress meanwhile); the API has no call to
            # cancel it.
            gave_up(status)
            raise ExportTimeoutError(
                f"export {status.id} of {spec} did not complete within "
                f"{policy.deadline_seconds:g} s: {status.progress}% done after {polls} polls"
            )
        job.sleep(min(next(intervals), remaining))

        status = job.client.export_status(status.id)
        polls += 1
        logger.info(
            "Export %s of %s is %d%% done after %.1f s",
            status.id,
            spec,
            status.progress,
            clock() - started,
        )
        if on_progress:
            on_progress(status)

    return status, polls
