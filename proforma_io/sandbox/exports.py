"""Export jobs: started, advancing with time, downloadable once, then gone.

A job selects its responses when it starts, detached from later changes to the store, and
writes its file on a worker thread. It is complete once `export_seconds` have passed and the
file is written; a query the sandbox cannot parse makes it fail instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from proforma_io.sandbox.export_json import JSON_MEDIA_TYPE, render_json
from proforma_io.sandbox.export_xlsx import XLSX_MEDIA_TYPE, render_xlsx
from proforma_io.sandbox.faults import Fault
from proforma_io.sandbox.jql import JqlError, Predicate, compile_jql
from proforma_io.sandbox.store import SandboxData, Template

EXPORT_TYPES = {
    "responses-json": ("json", JSON_MEDIA_TYPE),
    "responses-xlsx": ("xlsx", XLSX_MEDIA_TYPE),
}


@dataclass(frozen=True)
class ExportRequest:
    """What a client asked to export."""

    type: str
    project_key: str
    template_id: int
    fields: tuple[str, ...] = ()
    jql: str | None = None


@dataclass
class ExportJob:
    """One export: its file is written by `render`, unless `failure` says why it failed.

    `fault` is the export fault injected into it, if any (see `faults`).
    """

    id: str
    request: ExportRequest
    started: float
    filename: str
    media_type: str
    render: Future[bytes] | None = None
    failure: str | None = None
    fault: Fault | None = None


@dataclass(frozen=True)
class JobState:
    complete: bool
    progress: int
    failure: str | None = None


class ExportRegistry:
    """The exports a sandbox knows; a job disappears when its file is downloaded."""

    # Limitation: jobs never downloaded stay in memory until the sandbox stops; a real server
    # expires them, which matters only to a sandbox left running for a very long time.

    def __init__(
        self,
        data: SandboxData,
        export_seconds: float,
        executor: Executor,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.data = data
        self.export_seconds = export_seconds
        self.executor = executor
        self.clock = clock
        self._jobs: dict[str, ExportJob] = {}
        self._lock = threading.Lock()
        self._last_number = 0

    def start(
        self, request: ExportRequest, template: Template, fault: Fault | None = None
    ) -> ExportJob:
        """Select the responses and start writing the file; a bad query fails the job."""
        extension, media_type = EXPORT_TYPES[request.type]
        filename = f"ProForma-{request.project_key}-form-{request.template_id}.{extension}"
        if fault is not None and fault.kind == "file-name":
            filename = fault.value
        job = ExportJob(self._new_id(request), request, self.clock(), filename, media_type)
        job.fault = fault

        try:
            matches = compile_jql(request.jql)
        except JqlError as error:
            job.failure = f"Error in the JQL Query: {error}"
        else:
            entries = self._entries(request, matches)
            job.render = self.executor.submit(self._render, request, template, entries)

        self._jobs[job.id] = job
        return job

    def find(self, export_id: str) -> ExportJob | None:
        return self._jobs.get(export_id)

    def forget(self, job: ExportJob) -> None:
        """Drop a job as if the server had lost it."""
        self._jobs.pop(job.id, None)

    def state(self, job: ExportJob) -> JobState:
        """How far the job is: progress follows the elapsed share of `export_seconds`.

        A `fail` fault fails the job when it would have completed; a `stall` fault holds its
        progress at the fault's value for ever.
        """
        if job.failure is not None or job.render is None:
            return JobState(True, 100, job.failure)

        elapsed = self.clock() - job.started
        share = 1.0 if self.export_seconds <= 0 else min(elapsed / self.export_seconds, 1.0)
        fault = job.fault
        if fault is not None and fault.kind == "stall":
            return JobState(False, min(int(share * 100), fault.number))
        if fault is not None and fault.kind == "fail" and share >= 1.0:
            return JobState(True, 100, fault.value)
        if share < 1.0 or not job.render.done():
            return JobState(False, min(int(share * 100), 99))

        error = job.render.exception()
        if error is not None:
            return JobState(True, 100, f"The export file could not be written: {error}")
        return JobState(True, 100)

    def take(self, job: ExportJob) -> bytes:
        """The file of a complete job; the job is forgotten, as the server deletes the file."""
        assert job.render is not None
        content = job.render.result()
        self._jobs.pop(job.id, None)
        return content

    def _new_id(self, request: ExportRequest) -> str:
        with self._lock:
            self._last_number = max(int(time.time() * 1000), self._last_number + 1)
            number = self._last_number
        return f"{request.type}-{request.project_key}-{request.template_id}-{number}"

    def _entries(self, request: ExportRequest, matches: Predicate) -> list[dict[str, Any]]:
        entries = []
        for issue, form in self.data.forms(request.project_key, request.template_id):
            if not matches(issue):
                continue
            entry = {
                "issueKey": issue.key,
                "issueId": issue.id,
                "fields": {field: issue.fields.get(field) for field in request.fields},
                "form": form.snapshot(),
            }
            entry.update((k, v) for k, v in form.entry_extras.items() if k not in entry)
            entries.append(entry)
        return entries

    def _render(
        self, request: ExportRequest, template: Template, entries: list[dict[str, Any]]
    ) -> bytes:
        exported = datetime.now(UTC)
        if request.type == "responses-json":
            extras = template.envelope_extras
            key, template_id = request.project_key, request.template_id
            return render_json(key, template_id, entries, exported, extras)
        # Limitation: a replayed spreadsheet is served as recorded whenever no JQL is given,
        # whatever `fields` asks for; with JQL the sheet is written from the replayed forms.
        if template.recorded_xlsx is not None and not request.jql:
            return template.recorded_xlsx
        return render_xlsx(template, entries, request.fields, exported)
