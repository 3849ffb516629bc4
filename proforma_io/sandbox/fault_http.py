"""Serving planned faults over HTTP: an ASGI middleware answers status faults and holds back
slow answers; download breaks are raised inside the download's body.

A request is classified as a call (`start`, `status`, `download`, `form`) of a project, so a
fault can be planned for one call of one project.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from email.utils import formatdate

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proforma_io.sandbox.faults import HTTP_KINDS, Call, Fault, FaultPlan

_EXPORT_ID = re.compile(r"^responses-[a-z]+-(?P<project>[A-Z][A-Z0-9_]*)-\d+-\d+$")
_ISSUE_KEY = re.compile(r"^(?P<project>[A-Z][A-Z0-9_]*)-\d+$")
_STATUS_PHRASES = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class InjectedDrop(ConnectionAbortedError):
    """Raised inside a download to make the server drop the connection (a `drop` fault)."""


class QuietFaults(logging.Filter):
    """Keeps the tracebacks of injected download breaks out of the server's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        short = isinstance(error, RuntimeError) and "shorter than Content-Length" in str(error)
        return not (isinstance(error, InjectedDrop) or short)


QUIET_FAULTS = QuietFaults()


def classify(method: str, path: str, api_root: str) -> tuple[Call | None, str | None]:
    """Which call a request is (start, status, download, form) and the project it concerns."""
    if not path.startswith(api_root + "/"):
        return None, None
    parts = path[len(api_root) + 1 :].split("/")
    if parts[0] == "export":
        if len(parts) == 1 and method == "POST":
            return "start", None
        if len(parts) >= 2 and method == "GET":
            match = _EXPORT_ID.match(parts[1])
            project = match.group("project") if match else None
            return ("status" if len(parts) == 2 else "download"), project
    if parts[0] == "issue" and len(parts) >= 2:
        match = _ISSUE_KEY.match(parts[1])
        return "form", match.group("project") if match else None
    return None, None


class FaultMiddleware:
    """Answers planned HTTP faults in place of the API, or holds an answer back (`slow`)."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, api_root: str) -> None:
        self.app = app
        self.plan = plan
        self.api_root = api_root

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        call, project = classify(scope["method"], scope["path"], self.api_root)
        if call is None:
            await self.app(scope, receive, send)
            return
        if call == "start":
            project, receive = await _project_of_start(receive)

        fault = self.plan.take(HTTP_KINDS, call, project)
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "status":
            await _answer_status(fault, send)
        else:
            await self.app(scope, receive, _held_back(send, fault.seconds))


def retry_after_header(value: str) -> str:
    """The header's text: seconds as given, or `date+N` as the HTTP date N seconds from now."""
    if not value.startswith("date"):
        return value
    return formatdate(time.time() + int(value[4:]), usegmt=True)


async def _project_of_start(receive: Receive) -> tuple[str | None, Receive]:
    """The projectKey of a start-export body, and a `receive` that replays the body."""
    messages: list[Message] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        body += message.get("body", b"")
        if message["type"] != "http.request" or not message.get("more_body"):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    try:
        project = json.loads(body).get("projectKey")
    except (ValueError, AttributeError):
        project = None
    return (project if isinstance(project, str) else None), replay


async def _answer_status(fault: Fault, send: Send) -> None:
    status = fault.number
    phrase = _STATUS_PHRASES.get(status, "Error")
    if status == 429:
        body, media_type = f"{phrase}: slow down (fault injected)".encode(), b"text/plain"
    else:
        answer = {"error": "server", "message": f"The sandbox answered {status} {phrase}."}
        body, media_type = json.dumps(answer).encode(), b"application/json"
    headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
    if fault.retry_after is not None:
        headers.append((b"retry-after", retry_after_header(fault.retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _held_back(send: Send, seconds: float) -> Send:
    async def delayed(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return delayed
