"""`run_export`: start an export (or resume the one in flight), poll it, download it once, land it.

An export's id is recorded in the landing directory right after the start call, so a run that
crashes or times out while polling resumes that export next time instead of starting another.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from proforma_io.client import ProformaClient
from proforma_io.errors import ExportFailedError, ExportTimeoutError, NotFoundError, truncate
from proforma_io.landing import CompletedExport, InFlightExport, LandedExport, Landing
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
    """How often to ask for an export's status, and for how long."""

    initial_interval: float = 0.5
    max_interval: float = 10.0
    multiplier: float = 1.5
    deadline_seconds: float = 1800.0

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
    it; otherwise a new one is started and recorded. The file is downloaded exactly once: the
    server deletes it after the first download. The deadline counts from this call.
    """
    started = clock()
    flight, status, resumed = _resume_or_start(client, spec, landing)

    status, polls = _wait_until_complete(
        client, spec, status, policy, on_progress, sleep, clock, started
    )
    completed_at = datetime.now(UTC)
    waited = (completed_at - flight.started_at).total_seconds() if resumed else clock() - started

    if status.failed:
        landing.clear_in_flight(spec.project_key, spec.template_id, status.id)
        reason = truncate(status.message or "no reason given")
        raise ExportFailedError(
            f"export {status.id} of {spec} failed on the server: {reason}",
            server_message=status.message,
        )
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
    )

    landed = landing.receive(
        completed, status.file_name, lambda dest: client.download_export(status, dest)
    )
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


def _resume_or_start(
    client: ProformaClient, spec: ExportSpec, landing: Landing
) -> tuple[InFlightExport, ExportStatus, bool]:
    """The export in flight for `spec` if the server still knows it, else a new recorded one.

    Returns the in-flight record, the export's current status and whether it was resumed.
    """
    # Limitation: the record is not a lock. Two runs of one template at the same moment both
    # resume the same export; the first to download lands it and the second gets 404 and fails,
    # and its retry starts a new export. The production instance allows one run per project.
    previous = landing.in_flight(spec.project_key, spec.template_id)
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
        else:
            logger.info(
                "Resuming export %s of %s, in flight since %s (%d%% done)",
                status.id,
                spec,
                f"{previous.started_at:%Y-%m-%d %H:%M:%S} UTC",
                status.progress,
            )
            return previous, status, True

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
        replaces=previous.export_id if previous is not None else None,
    )
    landing.record_in_flight(flight)
    logger.info("Started export %s of %s (%s)", status.id, spec, status.type)
    return flight, status, False


def _same_request(flight: InFlightExport, spec: ExportSpec) -> bool:
    """Whether the recorded export asked for what `spec` asks for."""
    return (
        flight.export_type == export_type_for(spec.format)
        and flight.fields == list(spec.fields)
        and flight.jql == spec.jql
    )


def _wait_until_complete(
    client: ProformaClient,
    spec: ExportSpec,
    status: ExportStatus,
    policy: PollPolicy,
    on_progress: Callable[[ExportStatus], None] | None,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    started: float,
) -> tuple[ExportStatus, int]:
    """Poll until the server says complete (or failed); returns the last status and poll count."""
    polls = 0
    if on_progress:
        on_progress(status)

    intervals = policy.intervals()
    while not (status.complete or status.failed):
        elapsed = clock() - started
        remaining = policy.deadline_seconds - elapsed
        if remaining <= 0:
            # The export stays recorded in flight, so the next attempt resumes it rather than
            # starting another; the API has no call to cancel it.
            raise ExportTimeoutError(
                f"export {status.id} of {spec} did not complete within "
                f"{policy.deadline_seconds:g} s: {status.progress}% done after {polls} polls"
            )
        sleep(min(next(intervals), remaining))

        status = client.export_status(status.id)
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
