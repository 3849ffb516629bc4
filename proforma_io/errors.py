"""The error tree of proforma_io: every error the library raises on purpose derives from
`ProformaError`.

Messages name the project, template, export id, issue or file concerned, what was expected and
what arrived. Server bodies are truncated; credentials never appear.
"""

from __future__ import annotations

from pathlib import Path

BODY_LIMIT = 300


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Shorten `text` to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text) - limit} more characters)"


class ProformaError(Exception):
    """Base of every error raised by proforma_io."""


class ConfigError(ProformaError):
    """The configuration file is missing, unreadable or invalid."""


class ApiError(ProformaError):
    """The ProForma API answered with an error, or could not be reached.

    `status_code` is the HTTP status (None when no response arrived), `error` the API's error
    code (`client`, `forbidden`, `notFound`, `server`, `json`) when the body carried one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.server_message = server_message


class ApiConnectionError(ApiError):
    """No HTTP response arrived: connection refused, reset, or timed out."""


class AuthenticationError(ApiError):
    """401: the credentials are missing or wrong."""


class ClientRequestError(ApiError):
    """400 with a `client` body: the API rejected the request (unknown project, bad JQL...)."""


class RequestJsonError(ApiError):
    """400 with a `json` body: the API could not read the request body."""


class ForbiddenError(ApiError):
    """403: the user lacks a permission the operation needs."""


class NotFoundError(ApiError):
    """404: the export, issue or form does not exist, or a file was already downloaded."""


class ServerError(ApiError):
    """5xx: the server failed."""


class ExportError(ProformaError):
    """An export could not be completed: it failed, vanished, or passed its deadline."""


class ExportFailedError(ExportError):
    """The server reported the export as failed; `server_message` holds its reason."""

    def __init__(self, message: str, *, server_message: str | None = None) -> None:
        super().__init__(message)
        self.server_message = server_message


class ExportTimeoutError(ExportError):
    """The export did not complete before its deadline."""


class DownloadError(ExportError):
    """The export file could not be downloaded whole."""


class ExportFileError(ProformaError):
    """An export file could not be read: malformed, of the wrong shape, or unreadable.

    `path` names the file; `where` points inside it (a JSON path, a sheet cell) when known.
    """

    def __init__(self, path: Path | str, problem: str, *, where: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        self.where = where
        place = f" at {where}" if where else ""
        super().__init__(f"{self.path}{place}: {problem}")


class LandingError(ProformaError):
    """The landing directory holds no usable export file, or a file does not match its record."""


class WarehouseError(ProformaError):
    """A load into the SQL warehouse failed; the previous data of the project is intact."""


class LakeError(ProformaError):
    """A write to the Parquet lake failed; the previous partition is intact."""


class SandboxError(ProformaError):
    """The sandbox server could not start, for example because its port is taken."""


class FormArgumentError(ProformaError, ValueError):
    """A form operation was given an invalid issue key, form id or option; nothing was sent."""


class ForeignDownloadError(DownloadError):
    """The server pointed a download at another host than the configured Jira; it was refused,
    since the credentials go with every request."""


class ExportVanishedError(ExportError):
    """The server forgot an export it had started (404 on its status) and no restart was left."""
