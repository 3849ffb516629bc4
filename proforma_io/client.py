"""`ProformaClient`: ProForma's Customer API over httpx.

The export calls (start, status, streamed download) live here; the form operations on issues
come from `FormOperations` and share this client's connection pool, retries, error mapping and
logging. Which calls are repeated, and when, is `http_retries`' concern.
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Callable
from json import JSONDecodeError
from types import TracebackType
from typing import BinaryIO, Self
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from proforma_io.auth import Credentials
from proforma_io.errors import (
    ApiConnectionError,
    ApiError,
    AuthenticationError,
    ClientRequestError,
    ConfigError,
    DownloadError,
    ForbiddenError,
    ForeignDownloadError,
    NotFoundError,
    RequestJsonError,
    ServerError,
    truncate,
)
from proforma_io.form_operations import FormOperations
from proforma_io.http_retries import RetryPolicy, retrying
from proforma_io.models import ApiErrorBody, ExportRequest, ExportStatus

logger = logging.getLogger(__name__)

API_PATH = "/rest/proforma/1"
CHUNK_SIZE = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
EXPORT_NOT_FOUND_HINT = " (an unknown export id, or its file was already downloaded)"


class ProformaClient(FormOperations):
    """A client of ProForma's Customer API under a Jira base URL (context path allowed).

    Calls are repeated as `retry` allows (see `http_retries`): status and PDF calls after
    connection errors, 429 and 5xx; starting an export and the form changes only when the
    server refused them unprocessed. A download is never repeated: the server deletes the file
    as it serves it. TLS certificates are verified unless `verify` is False; a string names a
    CA bundle file or folder.
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing it is safe
        transport: httpx.BaseTransport | None = None,
        retry_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base = httpx.URL(base_url.rstrip("/"))
        if base.scheme not in DEFAULT_PORTS or not base.host:
            raise ValueError(f"base URL must be an http(s) URL with a host, not {base_url!r}")
        if base.userinfo:
            raise ValueError("base URL must not carry a user or password; pass credentials=")

        self.base_url = str(base)
        self.api_root = httpx.URL(f"{self.base_url}{API_PATH}/")
        self.retry = retry
        self._retry_sleep = retry_sleep
        self._http = httpx.Client(
            base_url=self.api_root,
            auth=credentials,
            timeout=timeout,
            verify=_ssl_verify(verify),
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProformaClient(base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the shared HTTP connection pool."""
        self._http.close()

    def start_export(self, request: ExportRequest) -> ExportStatus:
        """Ask the server to start an export; repeated only when the server refused it
        unprocessed (429, 503) or the request never left, since each call starts one."""
        operation = f"start export of {request.project_key} template {request.template_form_id}"
        response = self._send(operation, "POST", "export", json=request.to_body())
        return self._parse_status(operation, response)

    def export_status(self, export_id: str) -> ExportStatus:
        """The status of a started export, retried on connection errors, 429 and 5xx."""
        operation = f"status of export {export_id}"
        response = self._send(operation, "GET", f"export/{quote(export_id, safe='')}")
        return self._parse_status(operation, response)

    def download_export(self, status: ExportStatus, dest: BinaryIO) -> int:
        """Stream the export file into `dest` and return the bytes written; never retried.

        The server deletes the file after the first download, so a second call answers 404.
        """
        operation = f"download of export {status.id}"
        url = self._download_url(status)

        started = time.perf_counter()
        try:
            with self._http.stream("GET", url) as response:
                try:
                    return _copy_body(operation, response, dest)
                finally:
                    self._log_call("GET", url, response.status_code, started)
        except httpx.RequestError as exc:
            self._log_call("GET", url, None, started)
            raise ApiConnectionError(f"{operation} failed: {_describe(exc)}") from exc

    def _download_url(self, status: ExportStatus) -> httpx.URL:
        if not status.complete or status.failed:
            raise DownloadError(
                f"export {status.id} has no file to download: complete={status.complete}, "
                f"failed={status.failed}, progress={status.progress}%"
            )
        if not status.download_url:
            raise DownloadError(f"export {status.id} is complete but carries no downloadUrl")

        url = self.api_root.join(status.download_url)
        if _origin(url) != _origin(self.api_root):
            raise ForeignDownloadError(
                f"export {status.id} points its download at {_origin_text(url)}, not at the "
                f"configured server {_origin_text(self.api_root)}; refusing to send "
                "credentials there"
            )
        return url

    def _send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send one call, repeated as the retry policy allows; returns the last answer."""
        retry = retrying(self.retry, operation, method, sleep=self._retry_sleep)
        return retry(self._send_once, operation, method, path, json=json, params=params)

    def _send_once(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        started = time.perf_counter()
        url = self.api_root.join(path)
        try:
            response = self._http.request(method, url, json=json, params=params)
        except httpx.RequestError as exc:
            self._log_call(method, url, None, started)
            raise ApiConnectionError(f"{operation} failed: {_describe(exc)}") from exc
        self._log_call(method, url, response.status_code, started)
        return response

    def _check_form_answer(self, operation: str, response: httpx.Response) -> None:
        _raise_for_status(operation, response, not_found_hint="")

    def _parse_status(self, operation: str, response: httpx.Response) -> ExportStatus:
        _raise_for_status(operation, response)
        try:
            return ExportStatus.model_validate(response.json())
        except (JSONDecodeError, ValidationError) as exc:
            raise ApiError(
                f"{operation}: expected an export status object, got "
                f"{truncate(response.text)!r} ({type(exc).__name__})",
                status_code=response.status_code,
            ) from exc

    def _log_call(self, method: str, url: httpx.URL, status: int | None, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        shown = status if status is not None else "no response"
        logger.debug("%s %s -> %s in %.0f ms", method, url.path, shown, elapsed_ms)


def _copy_body(operation: str, response: httpx.Response, dest: BinaryIO) -> int:
    """Copy a streamed answer into `dest` chunk by chunk; the byte count must be whole."""
    if not response.is_success:
        response.read()
        _raise_for_status(operation, response)

    expected = _content_length(response)
    written = 0
    try:
        for chunk in response.iter_bytes(CHUNK_SIZE):
            dest.write(chunk)
            written += len(chunk)
    except httpx.RequestError as exc:
        raise DownloadError(
            f"{operation} broke off after {response.num_bytes_downloaded}"
            f"{_of_expected(expected)} bytes: {exc}"
        ) from exc

    received = response.num_bytes_downloaded
    if expected is not None and received != expected:
        raise DownloadError(
            f"{operation} is incomplete: Content-Length announced {expected} bytes, "
            f"{received} arrived"
        )
    return written


def _raise_for_status(
    operation: str, response: httpx.Response, not_found_hint: str = EXPORT_NOT_FOUND_HINT
) -> None:
    """Turn an error answer into the matching error of the tree; a 404 gets `not_found_hint`."""
    if response.is_success:
        return

    status = response.status_code
    body = _error_body(response)
    error = body.error if body else None
    server_message = _server_message(response, body)

    error_class = _error_class(status, error)
    verb = "failed" if status >= 500 else "refused"
    code = f"{status} {error}" if error else str(status)
    message = f"{operation} {verb} ({code})"
    if server_message:
        message += f": {server_message}"
    message += _hint(response, message, not_found_hint)
    raise error_class(
        message, status_code=status, error=error, server_message=server_message or None
    )


def _error_body(response: httpx.Response) -> ApiErrorBody | None:
    try:
        return ApiErrorBody.model_validate(response.json())
    except (JSONDecodeError, ValidationError, UnicodeDecodeError):
        return None


def _server_message(response: httpx.Response, body: ApiErrorBody | None) -> str:
    if response.status_code == 401:
        return ""
    if body is None:
        return truncate(response.text.strip())
    parts = [body.message or ""]
    if body.details:
        parts.append(f"details: {body.details}")
    return truncate("; ".join(part for part in parts if part))


def _error_class(status: int, error: str | None) -> type[ApiError]:
    if status == 400:
        return RequestJsonError if error == "json" else ClientRequestError
    if status >= 500:
        return ServerError
    by_status: dict[int, type[ApiError]] = {
        401: AuthenticationError,
        403: ForbiddenError,
        404: NotFoundError,
    }
    return by_status.get(status, ApiError)


def _hint(response: httpx.Response, message: str, not_found_hint: str) -> str:
    status = response.status_code
    if status == 401:
        return "; check the user name and password or the token"
    if status == 404 and "downloaded" not in message:
        return not_found_hint
    retry_after = response.headers.get("Retry-After", "").strip()
    if status in (429, 503) and retry_after:
        return f" (Retry-After: {truncate(retry_after, 40)})"
    return ""


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("Content-Length")
    if value is None or not value.isdigit():
        return None
    return int(value)


def _of_expected(expected: int | None) -> str:
    return f" of {expected}" if expected is not None else ""


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(url.scheme)


def _origin_text(url: httpx.URL) -> str:
    scheme, host, port = _origin(url)
    return f"{scheme}://{host}:{port}"


def _describe(exc: httpx.RequestError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:
        return f"{type(exc).__name__}: {exc}"
    return f"could not reach {_origin_text(url)}{url.path} ({type(exc).__name__}: {exc})"


def _ssl_verify(verify: bool | str) -> bool | ssl.SSLContext:
    """`verify` as httpx expects it: a string names a CA bundle file or directory."""
    if isinstance(verify, bool):
        return verify
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    if not os.path.isfile(verify):
        raise ConfigError(f"verify names CA bundle {verify!r}, which is not a file or directory")
    return ssl.create_default_context(cafile=verify)
