"""The form operations of the Customer API: forms on issues, under `/rest/proforma/1/issue`.

Each operation first checks the caller: 401 without valid credentials, 403 without the project
permissions the operation needs (`NEEDS`). Then a body that cannot be read answers 400 `json`,
an unknown issue or form 404 `notFound`, and an operation that does not apply to the form in its
state or project 400 `client`. Status and visibility travel as words (`open`, `submitted`,
`locked`; `internal`, `external`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from proforma_io.sandbox import lifecycle
from proforma_io.sandbox.auth import (
    ADMINISTER_PROJECTS,
    BROWSE_PROJECTS,
    EDIT_ISSUES,
    SandboxUser,
)
from proforma_io.sandbox.lifecycle import (
    STATUS_CODES,
    STATUS_NAMES,
    VISIBILITY_CODES,
    VISIBILITY_NAMES,
    FormMissing,
    FormRefused,
    StateChange,
)
from proforma_io.sandbox.pdf import PDF_MEDIA_TYPE, render_pdf
from proforma_io.sandbox.responses import BadBody, api_error, bad_body, refusal, shown
from proforma_io.sandbox.store import Form, FormStatus, SandboxData, Visibility

log = logging.getLogger(__name__)

# Limitation: a sandbox user's permissions hold in every project, while Jira grants them per
# project through permission schemes; checking one project's scheme needs users made for it.
NEEDS: dict[str, tuple[str, ...]] = {
    "add": (EDIT_ISSUES,),
    "copy": (BROWSE_PROJECTS, EDIT_ISSUES),
    "submit": (EDIT_ISSUES,),
    "reopen": (EDIT_ISSUES,),
    "unlock": (ADMINISTER_PROJECTS, EDIT_ISSUES),
    "pdf": (BROWSE_PROJECTS,),
    "visibility": (EDIT_ISSUES,),
}
BOOLEAN_WORDS = {"true": True, "false": False}
T = TypeVar("T")


def form_routes(api: FormApi, base: str) -> list[Route]:
    """The routes of the form operations under `base` (context path and API path)."""
    forms = base + "/issue/{issue_key}/form"
    form = forms + "/{form_id:int}"
    return [
        Route(forms, api.add, methods=["POST"]),
        Route(form + "/copy/{to_issue_key}", api.copy, methods=["POST"]),
        Route(form + "/submit", api.submit, methods=["POST"]),
        Route(form + "/reopen", api.reopen, methods=["POST"]),
        Route(form + "/unlock", api.unlock, methods=["POST"]),
        Route(form + "/pdf", api.pdf, methods=["GET"]),
        Route(form + "/visibility/{visibility}", api.visibility, methods=["POST"]),
    ]


def form_summary(issue_key: str, form: Form) -> dict[str, Any]:
    """How an added or copied form is described in an answer."""
    return {
        "issueKey": issue_key,
        "id": form.id,
        "templateFormId": form.template_id or None,
        "name": form.name,
        "status": STATUS_NAMES[form.status],
        "visibility": VISIBILITY_NAMES[form.visibility],
        "updated": form.updated,
    }


class FormApi:
    """The endpoints of the form operations over one store."""

    def __init__(self, data: SandboxData, users: Sequence[SandboxUser]) -> None:
        self.data = data
        self.users = users

    async def add(self, request: Request) -> Response:
        issue_key = request.path_params["issue_key"]
        refused = refusal(self.users, request, NEEDS["add"])
        if refused is not None:
            return refused
        try:
            body = parse_add_request(await _json_object(request, required=True))
        except BadBody as error:
            return bad_body("an add-form request", error)

        template_id, visibility, count = body
        added = _attempt(
            lambda: lifecycle.add_forms(self.data, issue_key, template_id, visibility, count)
        )
        if isinstance(added, Response):
            return added
        log.info("Added %d form(s) of template %d to %s.", len(added), template_id, issue_key)
        return JSONResponse({"forms": [form_summary(issue_key, form) for form in added]})

    async def copy(self, request: Request) -> Response:
        params = request.path_params
        issue_key, form_id, to_key = params["issue_key"], params["form_id"], params["to_issue_key"]
        refused = refusal(self.users, request, NEEDS["copy"])
        if refused is not None:
            return refused
        try:
            status, visibility = parse_copy_request(await _json_object(request, required=False))
        except BadBody as error:
            return bad_body("a copy-form request", error)

        copied = _attempt(
            lambda: lifecycle.copy_form(self.data, issue_key, form_id, to_key, status, visibility)
        )
        if isinstance(copied, Response):
            return copied
        log.info("Copied form %d of %s to %s as form %d.", form_id, issue_key, to_key, copied.id)
        return JSONResponse(form_summary(to_key, copied))

    async def submit(self, request: Request) -> Response:
        return self._change(request, "submit", lifecycle.submit)

    async def reopen(self, request: Request) -> Response:
        return self._change(request, "reopen", lifecycle.reopen)

    async def unlock(self, request: Request) -> Response:
        return self._change(request, "unlock", lifecycle.unlock)

    async def pdf(self, request: Request) -> Response:
        issue_key, form_id = request.path_params["issue_key"], request.path_params["form_id"]
        refused = refusal(self.users, request, NEEDS["pdf"])
        if refused is not None:
            return refused
        plain = BOOLEAN_WORDS.get(request.query_params.get("plain", "false").lower())
        if plain is None:
            shown_value = shown(request.query_params["plain"])
            return api_error(400, "client", f"plain must be true or false, not {shown_value}.")

        found = _attempt(lambda: lifecycle.find_form(self.data, issue_key, form_id))
        if isinstance(found, Response):
            return found
        issue, form = found
        content = await run_in_threadpool(render_pdf, issue, form.copy(), plain=plain)
        disposition = f'inline; filename="{issue_key}-form-{form_id}.pdf"'
        headers = {"Content-Disposition": disposition}
        return Response(content, media_type=PDF_MEDIA_TYPE, headers=headers)

    async def visibility(self, request: Request) -> Response:
        params = request.path_params
        issue_key, form_id, word = params["issue_key"], params["form_id"], params["visibility"]
        refused = refusal(self.users, request, NEEDS["visibility"])
        if refused is not None:
            return refused
        if word not in VISIBILITY_CODES:
            message = f"Visibility {shown(word)} is unknown; expected internal or external."
            return api_error(400, "client", message)

        changed = _attempt(
            lambda: lifecycle.change_visibility(
                self.data, issue_key, form_id, VISIBILITY_CODES[word]
            )
        )
        if isinstance(changed, Response):
            return changed
        log.info("Form %d on %s is now %s.", form_id, issue_key, word)
        return JSONResponse({"visibility": VISIBILITY_NAMES[changed]})

    def _change(
        self,
        request: Request,
        operation: str,
        change: Callable[[SandboxData, str, int], StateChange],
    ) -> Response:
        issue_key, form_id = request.path_params["issue_key"], request.path_params["form_id"]
        refused = refusal(self.users, request, NEEDS[operation])
        if refused is not None:
            return refused

        result = _attempt(lambda: change(self.data, issue_key, form_id))
        if isinstance(result, Response):
            return result
        status = STATUS_NAMES[result.status]
        log.info("%s form %d on %s: now %s.", operation.capitalize(), form_id, issue_key, status)
        return JSONResponse({"status": status, "transitioned": result.transitioned})


def parse_add_request(body: dict[str, Any]) -> tuple[int, Visibility, int]:
    """Template id, visibility code and form count of an add-form body; raises BadBody."""
    problems = []
    template_id = body.get("templateFormId")
    if isinstance(template_id, str) and template_id.isdecimal():
        template_id = int(template_id)
    if not _is_int(template_id):
        problems.append(f"templateFormId: expected an integer, got {shown(template_id)}")
    count = body.get("add", 1)
    if not _is_int(count):
        problems.append(f"add: expected an integer number of forms, got {shown(count)}")
    visibility = _word(body, "visibility", VISIBILITY_CODES, problems)
    if problems:
        raise BadBody("; ".join(problems))

    assert isinstance(template_id, int) and isinstance(count, int)
    return template_id, visibility or "i", count


def parse_copy_request(body: dict[str, Any]) -> tuple[FormStatus | None, Visibility | None]:
    """Status and visibility codes a copy-form body asks for (None: as the source form)."""
    problems: list[str] = []
    status = _word(body, "status", STATUS_CODES, problems)
    visibility = _word(body, "visibility", VISIBILITY_CODES, problems)
    if problems:
        raise BadBody("; ".join(problems))
    return status, visibility


def _word(body: dict[str, Any], key: str, codes: dict[str, T], problems: list[str]) -> T | None:
    value = body.get(key)
    if value is None:
        return None
    if value not in codes:
        problems.append(f"{key}: expected one of {', '.join(codes)}, got {shown(value)}")
        return None
    return codes[value]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def _json_object(request: Request, *, required: bool) -> dict[str, Any]:
    """The request body as a JSON object; an empty body is `{}` unless one is required."""
    raw = await request.body()
    if not raw.strip() and not required:
        return {}
    try:
        body = await request.json()
    except ValueError as error:
        raise BadBody(f"not valid JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadBody(f"expected a JSON object, got {type(body).__name__}")
    return body


def _attempt(action: Callable[[], T]) -> T | Response:
    """Run a life-cycle step, answering 404 or 400 `client` when it does not apply."""
    try:
        return action()
    except FormMissing as error:
        return api_error(404, "notFound", str(error))
    except FormRefused as error:
        return api_error(400, "client", str(error))
