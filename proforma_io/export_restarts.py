"""When the export job gives an export up and starts another, and how it downloads a file once.

An export is given up when the server failed it, forgot it (404 on status), completed it
without a `downloadUrl`, or let it sit without progress for a whole deadline after a run gave
up waiting for it; and when its download broke off after the server had deleted the file. A
download that failed is tried once more only when the server still lists the export as
complete: its file is then still there. Every given-up export is recorded, with its reason, in
the next one's manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import BinaryIO

from proforma_io.client import ProformaClient
from proforma_io.errors import (
    ApiError,
    AuthenticationError,
    DownloadError,
    ExportFailedError,
    ExportTimeoutError,
    ExportVanishedError,
    ForbiddenError,
    ForeignDownloadError,
    NotFoundError,
    ProformaError,
    truncate,
)
from proforma_io.landing import (
    CompletedExport,
    ExportRestart,
    InFlightExport,
    LandedExport,
    Landing,
)
from proforma_io.models import ExportStatus

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 2
REASON_LIMIT = 200

FinalError = Callable[[str], ProformaError]


class RestartNeeded(Exception):
    """The export in hand cannot be completed; `final` builds the error to raise when no
    restart is left, given a sentence on the restarts so far."""

    def __init__(self, export_id: str, reason: str, final: FinalError) -> None:
        super().__init__(reason)
        self.export_id = export_id
        self.reason = reason
        self.final = final

    def record(self) -> ExportRestart:
        return ExportRestart(
            export_id=self.export_id, reason=truncate(self.reason, REASON_LIMIT), at=_now()
        )


def failed(status: ExportStatus, what: str) -> RestartNeeded:
    """The server reported the export as failed; the final error carries its message."""
    reason = truncate(status.message or "no reason given")
    message = f"export {status.id} of {what} failed on the server: {reason}"

    def final(earlier: str) -> ProformaError:
        return ExportFailedError(message + earlier, server_message=status.message)

    return RestartNeeded(status.id, f"failed on the server: {reason}", final)


def vanished(export_id: str, what: str, error: NotFoundError) -> RestartNeeded:
    """The server forgot the export while it was being polled."""
    message = f"export {export_id} of {what} vanished: the server no longer knows it ({error})"

    def final(earlier: str) -> ProformaError:
        return ExportVanishedError(message + earlier)

    return RestartNeeded(export_id, "vanished (404 on its status)", final)


def without_download_url(status: ExportStatus, what: str) -> RestartNeeded:
    """The export completed, but its status names no file to download."""
    message = f"export {status.id} of {what} is complete but carries no downloadUrl"

    def final(earlier: str) -> ProformaError:
        return DownloadError(message + earlier)

    return RestartNeeded(status.id, "complete without a downloadUrl", final)


def stalled(flight: InFlightExport, status: ExportStatus) -> RestartNeeded | None:
    """An export that made no progress over a whole deadline since a run gave up waiting for it
    (`status` is its status at the end of this run's deadline)."""
    if status.complete or status.failed or flight.timed_out_at is None:
        return None
    if status.progress > flight.timed_out_at:
        return None
    message = (
        f"export {status.id} made no progress since a run gave up waiting for it at "
        f"{flight.timed_out_at}% (now {status.progress}%)"
    )
    return RestartNeeded(
        status.id,
        f"stalled at {status.progress}%",
        lambda earlier: ExportTimeoutError(message + earlier),
    )


def history(restarts: Sequence[ExportRestart]) -> str:
    """A clause on the exports given up before, for a final error: empty without any."""
    if not restarts:
        return ""
    given_up = "; ".join(f"{item.export_id} {item.reason}" for item in restarts)
    noun = "restart" if len(restarts) == 1 else "restarts"
    return f" (after {len(restarts)} {noun}: {given_up})"


def download_and_land(
    client: ProformaClient,
    landing: Landing,
    completed: CompletedExport,
    status: ExportStatus,
) -> LandedExport:
    """Download the export's file into the landing directory.

    A failed download is tried once more only while the server still lists the export as
    complete; once it answers 404 the file is gone and `RestartNeeded` is raised. A download
    URL on another host, and refused credentials, are raised as they are.
    """
    what = f"{completed.project_key} template {completed.template_id}"
    reason = ""
    problem: ProformaError = DownloadError(f"export {status.id} of {what} was not downloaded")
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        record = completed.model_copy(update={"download_attempts": attempt})
        try:
            return landing.receive(record, status.file_name, _downloader(client, status))
        except (ForeignDownloadError, AuthenticationError, ForbiddenError):
            raise
        except (DownloadError, ApiError) as exc:
            problem = exc
        still_there = _still_downloadable(client, status.id)
        if still_there is None:
            reason = f"download failed and the server no longer has the file: {problem}"
            break
        reason = f"download failed {attempt} times: {problem}"
        if attempt < DOWNLOAD_ATTEMPTS:
            logger.warning(
                "Download of export %s of %s failed (%s); the server still has the file, so "
                "it is downloaded once more",
                status.id,
                what,
                problem,
            )
            status = still_there

    def final(earlier: str) -> ProformaError:
        return DownloadError(f"{problem}{earlier}")

    raise RestartNeeded(status.id, truncate(reason, REASON_LIMIT), final)


def _downloader(client: ProformaClient, status: ExportStatus) -> Callable[[BinaryIO], int]:
    return lambda dest: client.download_export(status, dest)


def _still_downloadable(client: ProformaClient, export_id: str) -> ExportStatus | None:
    """The export's status while the server still offers its file, else None."""
    try:
        status = client.export_status(export_id)
    except NotFoundError:
        return None
    if status.complete and not status.failed and status.download_url:
        return status
    return None


def _now() -> datetime:
    return datetime.now(UTC)
