"""The Starlette application: ProForma's Customer API under `<context path>/rest/proforma/1`.

The Export API lives here; the form operations on issues are in `form_api`. Errors answer
`{error, message}` as ProForma does (see `responses`). Downloading an export that is not
complete, or that failed, answers 400 `client`: the export exists but has no file yet, and a 404
would read as "already downloaded" to a client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proforma_io.sandbox.auth import EXPORT_ALL_DATA, SandboxUser
from proforma_io.sandbox.exports import EXPORT_TYPES, ExportJob, ExportRegistry, ExportRequest
from proforma_io.sandbox.fault_http import FaultMiddleware, InjectedDrop, classify
from proforma_io.sandbox.faults import DOWNLOAD_KINDS, EXPORT_KINDS, Fault, FaultPlan
from proforma_io.sandbox.form_api import FormApi, form_routes
from proforma_io.sandbox.responses import BadBody, api_error, bad_body, refusal, shown
from proforma_io.sandbox.store import SandboxData

log = logging.getLogger(__name__)

API_PATH = "/rest/proforma/1"
CHUNK_SIZE = 64 * 1024


@dataclass
class SandboxStats:
    """What clients did: exports started, polls and download attempts per export, requests.

    `calls` counts every request by call (`start`, `status`, `download`, `form`), those a
    fault answered included; `downloads` counts only those that reached an export's file.
    """

    exports_started: list[str] = field(default_factory=list)
    status_polls: dict[str, int] = field(default_factory=dict)
    downloads: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)


def build_app(
    data: SandboxData,
    *,
    users: Sequence[SandboxUser],
    context_path: str,
    export_seconds: float,
    stats: SandboxStats,
    executor: Executor,
    faults: FaultPlan | None = None,
) -> Starlette:
    """The sandbox application; `context_path` is "" or starts with "/" and has no trailing "/".

    `faults` are injected as planned (see `faults`); none by default.
    """
    plan = faults if faults is not None else FaultPlan()
    registry = ExportRegistry(data, export_seconds, executor)
    api = _ExportApi(registry, users, stats, context_path, plan)
    api_root = f"{context_path}{API_PATH}"
    base = f"{api_root}/export"
    routes = [
        Route(base, api.start, methods=["POST"]),
        Route(base + "/{export_id}", api.status, methods=["GET"]),
        Route(base + "/{export_id}/{filename:path}", api.download, methods=["GET"]),
        *form_routes(FormApi(data, users), api_root),
    ]
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(_RequestLog, stats=stats, api_root=api_root),
            Middleware(FaultMiddleware, plan=plan, api_root=api_root),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )


def parse_export_request(body: Any) -> ExportRequest:
    """Read a start-export body; raises BadBody naming every key that is missing or wrong."""
    if not isinstance(body, dict):
        raise BadBody(f"expected a JSON object, got {type(body).__name__}")

    problems = []
    for key in ("type", "projectKey"):
        if not isinstance(body.get(key), str):
            problems.append(f"{key}: expected a string, got {shown(body.get(key))}")
    template_id = body.get("templateFormId")
    if isinstance(template_id, str) and template_id.isdecimal():
        template_id = int(template_id)
    if not isinstance(template_id, int) or isinstance(template_id, bool):
        problems.append(f"templateFormId: expected an integer, got {shown(template_id)}")
    fields = body.get("fields")
    if fields is not None and not (
        isinstance(fields, list) and all(isinstance(f, str) for f in fields)
    ):
        problems.append(f"fields: expected a list of field ids, got {shown(fields)}")
    if body.get("jql") is not None and not isinstance(body["jql"], str):
        problems.append(f"jql: expected a string, got {shown(body['jql'])}")
    if problems:
        raise BadBody("; ".join(problems))

    assert isinstance(template_id, int)
    return ExportRequest(
        body["type"], body["projectKey"], template_id, tuple(fields or ()), body.get("jql")
    )


class _ExportApi:
    def __init__(
        self,
        registry: ExportRegistry,
        users: Sequence[SandboxUser],
        stats: SandboxStats,
        context_path: str,
        faults: FaultPlan,
    ) -> None:
        self.registry = registry
        self.users = users
        self.stats = stats
        self.context_path = context_path
        self.faults = faults

    async def start(self, request: Request) -> Response:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal

        try:
            body = await request.json()
        except ValueError as error:
            return api_error(400, "json", "The request body is not valid JSON.", details=str(error))
        try:
            export = parse_export_request(body)
        except BadBody as error:
            return bad_body("an export request", error)

        if export.type not in EXPORT_TYPES:
            known = " or ".join(EXPORT_TYPES)
            return api_error(
                400, "client", f"Unknown export type '{export.type}'; expected {known}."
            )
        if self.registry.data.project(export.project_key) is None:
            return api_error(400, "client", f"Project '{export.project_key}' does not exist.")
        template = self.registry.data.template(export.project_key, export.template_id)
        if template is None:
            key, number = export.project_key, export.template_id
            message = f"Template form {number} does not exist in project {key}."
            return api_error(400, "client", message)

        fault = self.faults.take(EXPORT_KINDS, "start", export.project_key)
        job = self.registry.start(export, template, fault)
        self.stats.exports_started.append(job.id)
        log.info("Started export %s.", job.id)
        return JSONResponse(
            {"type": export.type, "id": job.id, "complete": False, "failed": False, "progress": 0}
        )

    async def status(self, request: Request) -> Response:
        export_id = request.path_params["export_id"]
        self.stats.status_polls[export_id] = self.stats.status_polls.get(export_id, 0) + 1
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal

        job = self.registry.find(export_id)
        if job is None:
            return _no_export(export_id)
        fault = job.fault.kind if job.fault is not None else None
        if fault == "vanish":
            self.registry.forget(job)
            log.info("Export %s vanished (fault injected).", job.id)
            return _no_export(export_id)

        state = self.registry.state(job)
        body: dict[str, Any] = {
            "type": job.request.type,
            "id": job.id,
            "complete": state.complete,
            "failed": state.failure is not None,
            "progress": state.progress,
        }
        if state.complete and state.failure is None and fault != "no-url":
            body["downloadUrl"] = self._download_url(request, job)
        if state.failure is not None:
            body["message"] = state.failure
        return JSONResponse(body)

    async def download(self, request: Request) -> Response:
        export_id = request.path_params["export_id"]
        self.stats.downloads[export_id] = self.stats.downloads.get(export_id, 0) + 1
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal

        job = self.registry.find(export_id)
        if job is None:
            return _no_export(export_id)
        filename = request.path_params["filename"]
        if filename != job.filename:
            message = f"Export {export_id} has no file named '{filename}'."
            return api_error(404, "notFound", message)
        state = self.registry.state(job)
        if state.failure is not None:
            message = f"Export {export_id} failed and has no file: {state.failure}"
            return api_error(400, "client", message)
        if not state.complete:
            message = f"Export {export_id} is not complete yet ({state.progress}%)."
            return api_error(400, "client", message)

        content = self.registry.take(job)
        log.info("Export %s downloaded (%d bytes); its file is deleted.", job.id, len(content))
        headers = {
            "Content-Length": str(len(content)),
            "Content-Disposition": f'attachment; filename="{quote(job.filename)}"',
        }
        fault = self.faults.take(DOWNLOAD_KINDS, "download", job.request.project_key)
        body = _chunks(content) if fault is None else _broken(content, fault)
        return StreamingResponse(body, media_type=job.media_type, headers=headers)

    def _refusal(self, request: Request) -> Response | None:
        return refusal(self.users, request, [EXPORT_ALL_DATA], scope="global")

    def _download_url(self, request: Request, job: ExportJob) -> str:
        origin = f"{request.url.scheme}://{request.url.netloc}"
        if job.fault is not None and job.fault.kind == "foreign-url":
            origin = job.fault.value.rstrip("/")
        name = quote(job.filename, safe="")
        return f"{origin}{self.context_path}{API_PATH}/export/{quote(job.id)}/{name}"


def _no_export(export_id: str) -> JSONResponse:
    message = f"Export {export_id} does not exist, or its file was already downloaded."
    return api_error(404, "notFound", message)


def _chunks(content: bytes) -> Iterator[bytes]:
    for offset in range(0, len(content), CHUNK_SIZE):
        yield content[offset : offset + CHUNK_SIZE]


def _broken(content: bytes, fault: Fault) -> Iterator[bytes]:
    """The first bytes of a file, then a dropped connection (`drop`) or a body cut short."""
    yield from _chunks(content[: fault.number])
    if fault.kind == "drop":
        # An error after the answer started makes the server close the connection at once.
        raise InjectedDrop(f"download dropped after {fault.number} bytes (fault)")


async def _http_error(request: Request, error: Exception) -> Response:
    status_code = error.status_code if isinstance(error, HTTPException) else 500
    if status_code == 404:
        return api_error(404, "notFound", f"Nothing at {request.method} {request.url.path}.")
    detail = error.detail if isinstance(error, HTTPException) else str(error)
    return api_error(status_code, "client", f"{request.method} {request.url.path}: {detail}.")


async def _server_error(request: Request, error: Exception) -> Response:
    # Starlette re-raises the error after this answer, so the server logs its traceback.
    message = f"The sandbox failed on {request.method} {request.url.path}: {type(error).__name__}."
    return api_error(500, "server", message)


class _RequestLog:
    """Records `(method, path, status)` of every request into the stats."""

    def __init__(self, app: ASGIApp, stats: SandboxStats, api_root: str) -> None:
        self.app = app
        self.stats = stats
        self.api_root = api_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        status = 500

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            self.stats.requests.append((scope["method"], scope["path"], status))
            call, _ = classify(scope["method"], scope["path"], self.api_root)
            if call is not None:
                self.stats.calls[call] = self.stats.calls.get(call, 0) + 1
            log.debug("%s %s answered %d.", scope["method"], scope["path"], status)
