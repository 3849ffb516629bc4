"""The project's OpenAPI document against the sandbox: every answer of a tour must match it.

The tour calls each of the ten operations so that it answers every status the document lists
for it (500 aside: the sandbox fails only on its own bugs), and each recorded answer is
validated with openapi-core.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate
from starlette.routing import Route

from proforma_io.sandbox import DEFAULT_USERS, Sandbox, SandboxData, SandboxStats
from proforma_io.sandbox.app import API_PATH, build_app

DOCUMENT = Path(__file__).parent.parent / "docs" / "openapi.yaml"
UNTESTED_STATUSES = {"500"}


@dataclass(frozen=True)
class Call:
    operation: str
    method: str
    path: str
    user: str | None = "admin"
    json: Any = None
    params: dict[str, str] | None = None
    content: bytes | None = None


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    return OpenAPI.from_file_path(str(DOCUMENT))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    data = SandboxData.generated(seed=5, issues_per_project=4)
    with Sandbox(data, context_path="/jira", export_seconds=0.3).running() as running:
        yield running


def test_document_is_valid_openapi(spec: dict[str, Any]) -> None:
    validate(spec)

    assert spec["openapi"].startswith("3.")


def test_document_describes_exactly_the_sandbox_routes(spec: dict[str, Any]) -> None:
    documented = {
        (method.upper(), _shape(path))
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete")
    }
    with ThreadPoolExecutor(1) as executor:
        app = build_app(
            SandboxData(),
            users=DEFAULT_USERS,
            context_path="",
            export_seconds=0,
            stats=SandboxStats(),
            executor=executor,
        )
    served = {
        (method, _shape(route.path.removeprefix(API_PATH)))
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }

    assert len(documented) == 10
    assert documented == served


def test_every_documented_permission_is_named(spec: dict[str, Any]) -> None:
    known = {"Browse Projects", "Edit Issues", "Administer Projects", "ProForma: Export All Data"}
    named = {
        operation["operationId"]: set(operation["x-permissions"])
        for item in spec["paths"].values()
        for key, operation in item.items()
        if key in ("get", "post")
    }

    assert all(permissions and permissions <= known for permissions in named.values())
    assert named["unlockForm"] == {"Administer Projects", "Edit Issues"}
    assert named["copyForm"] == {"Browse Projects", "Edit Issues"}


def test_every_sandbox_answer_of_the_tour_matches_the_document(
    sandbox: Sandbox, openapi: OpenAPI, spec: dict[str, Any]
) -> None:
    seen: set[tuple[str, str]] = set()
    for call, response in tour(sandbox):
        openapi.validate_response(_request(call, response), _response(response))
        if response.status_code == 401:
            assert response.content == b""
        seen.add((call.operation, str(response.status_code)))

    documented = {
        (operation["operationId"], status)
        for item in spec["paths"].values()
        for key, operation in item.items()
        if key in ("get", "post")
        for status in operation["responses"]
        if status not in UNTESTED_STATUSES
    }
    assert documented - seen == set()
    assert seen - documented == set()


def tour(sandbox: Sandbox) -> Iterator[tuple[Call, httpx.Response]]:
    """Every operation in each of its documented answers, yielded as it is made."""
    with httpx.Client(base_url=sandbox.base_url + API_PATH, timeout=10) as http:

        def send(call: Call) -> httpx.Response:
            auth = (call.user, call.user) if call.user else None
            return http.request(
                call.method,
                call.path,
                auth=auth,
                json=call.json,
                params=call.params,
                content=call.content,
            )

        def run(*calls: Call) -> Iterator[tuple[Call, httpx.Response]]:
            for call in calls:
                yield call, send(call)

        hr_export = {"type": "responses-json", "projectKey": "HR", "templateFormId": 3}
        started = send(Call("startExport", "POST", "/export", json=hr_export))
        yield Call("startExport", "POST", "/export", json=hr_export), started
        export_id = started.json()["id"]
        file_path = f"/export/{export_id}/ProForma-HR-form-3.json"
        yield from run(
            Call("downloadExport", "GET", file_path),
            Call("startExport", "POST", "/export", json={**hr_export, "projectKey": "NOPE"}),
            Call("startExport", "POST", "/export", content=b"{broken"),
            Call("startExport", "POST", "/export", user=None, json=hr_export),
            Call("startExport", "POST", "/export", user="agent", json=hr_export),
            Call("getExportStatus", "GET", "/export/responses-json-HR-3-1"),
            Call("getExportStatus", "GET", f"/export/{export_id}", user=None),
            Call("getExportStatus", "GET", f"/export/{export_id}", user="lead"),
            Call("downloadExport", "GET", file_path, user=None),
            Call("downloadExport", "GET", file_path, user="viewer"),
        )
        status = Call("getExportStatus", "GET", f"/export/{export_id}")
        deadline = time.monotonic() + 10
        while not (answer := send(status)).json()["complete"]:
            assert time.monotonic() < deadline
            yield status, answer
            time.sleep(0.05)
        yield status, answer
        yield from run(
            Call("downloadExport", "GET", file_path), Call("downloadExport", "GET", file_path)
        )

        forms = "/issue/HR-101/form"
        added = send(Call("addForm", "POST", forms, json={"templateFormId": 3}))
        yield Call("addForm", "POST", forms, json={"templateFormId": 3}), added
        form = f"{forms}/{added.json()['forms'][0]['id']}"
        locking = send(Call("addForm", "POST", "/issue/OPS-101/form", json={"templateFormId": 8}))
        locked = f"/issue/OPS-101/form/{locking.json()['forms'][0]['id']}"
        yield from run(
            Call("addForm", "POST", forms, json={"templateFormId": 11}),
            Call("addForm", "POST", forms, json={"templateFormId": "three"}),
            Call("addForm", "POST", forms, user=None, json={"templateFormId": 3}),
            Call("addForm", "POST", forms, user="viewer", json={"templateFormId": 3}),
            Call("addForm", "POST", "/issue/HR-999/form", json={"templateFormId": 3}),
            Call("submitForm", "POST", f"{form}/submit"),
            Call("submitForm", "POST", f"{form}/submit"),
            Call("submitForm", "POST", f"{form}/submit", user=None),
            Call("submitForm", "POST", f"{form}/submit", user="viewer"),
            Call("submitForm", "POST", f"{forms}/99/submit"),
            Call("reopenForm", "POST", f"{form}/reopen"),
            Call("reopenForm", "POST", f"{form}/reopen"),
            Call("reopenForm", "POST", f"{form}/reopen", user=None),
            Call("reopenForm", "POST", f"{form}/reopen", user="exporter"),
            Call("reopenForm", "POST", "/issue/HR-999/form/1/reopen"),
            Call("submitForm", "POST", f"{locked}/submit"),
            Call("unlockForm", "POST", f"{locked}/unlock", user="agent"),
            Call("unlockForm", "POST", f"{locked}/unlock", user="lead"),
            Call("unlockForm", "POST", f"{locked}/unlock"),
            Call("unlockForm", "POST", f"{locked}/unlock", user=None),
            Call("unlockForm", "POST", "/issue/OPS-101/form/99/unlock"),
            Call("copyForm", "POST", f"{form}/copy/HR-102", json={"status": "submitted"}),
            Call("copyForm", "POST", f"{form}/copy/ITSD-101"),
            Call("copyForm", "POST", f"{form}/copy/OPS-101", json={"visibility": "external"}),
            Call("copyForm", "POST", f"{form}/copy/HR-102", json={"status": "archived"}),
            Call("copyForm", "POST", f"{form}/copy/HR-102", user=None),
            Call("copyForm", "POST", f"{form}/copy/HR-102", user="viewer"),
            Call("copyForm", "POST", f"{form}/copy/HR-999"),
            Call("getFormPdf", "GET", f"{form}/pdf"),
            Call("getFormPdf", "GET", f"{form}/pdf", params={"plain": "true"}),
            Call("getFormPdf", "GET", f"{form}/pdf", params={"plain": "maybe"}),
            Call("getFormPdf", "GET", f"{form}/pdf", user=None),
            Call("getFormPdf", "GET", f"{form}/pdf", user="exporter"),
            Call("getFormPdf", "GET", f"{forms}/99/pdf"),
            Call("changeFormVisibility", "POST", "/issue/ITSD-101/form/1/visibility/external"),
            Call("changeFormVisibility", "POST", f"{form}/visibility/external"),
            Call("changeFormVisibility", "POST", f"{form}/visibility/internal", user=None),
            Call("changeFormVisibility", "POST", f"{form}/visibility/internal", user="viewer"),
            Call("changeFormVisibility", "POST", f"{forms}/99/visibility/internal"),
        )


def _request(call: Call, response: httpx.Response) -> MockRequest:
    url = response.request.url
    return MockRequest(
        f"{url.scheme}://{url.netloc.decode()}",
        call.method,
        url.path,
        args=dict(url.params),
        content_type=response.request.headers.get("content-type", ""),
    )


def _response(response: httpx.Response) -> MockResponse:
    media_type = response.headers.get("content-type", "").split(";")[0]
    return MockResponse(
        response.content,
        status_code=response.status_code,
        headers=dict(response.headers),
        content_type=media_type or None,  # type: ignore[arg-type]
    )


def _shape(path: str) -> str:
    """A path with its parameters blanked, so `{form_id:int}` and `{formId}` compare equal."""
    return re.sub(r"\{[^}]*\}", "{}", path)
