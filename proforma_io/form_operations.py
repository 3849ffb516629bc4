"""The form operations of ProForma's Customer API, mixed into `ProformaClient`.

Add, copy, submit, reopen, unlock, PDF and visibility, each one call under
`/rest/proforma/1/issue/{issueKey}/form`. Arguments are checked before anything is sent: an issue
key such as `HR-101`, a form id of 1 or more, the status and visibility words. A change is sent
again only when the server refused it unprocessed (429, 503) or it never left this machine,
since a repeated submit or add would change the form twice; the PDF, a read, is retried like
any GET (see `http_retries`).
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from json import JSONDecodeError
from typing import TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from proforma_io.errors import ApiError, FormArgumentError, truncate
from proforma_io.models import (
    FORM_STATUSES,
    VISIBILITIES,
    AddFormRequest,
    AddFormResult,
    CopyFormRequest,
    FormStateChangeResult,
    FormStatusName,
    FormSummary,
    VisibilityChangeResult,
    VisibilityName,
)

logger = logging.getLogger(__name__)

ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]*$")
PDF_MEDIA_TYPE = "application/pdf"
PDF_MAGIC = b"%PDF-"
Answer = TypeVar("Answer", bound=BaseModel)


def check_issue_key(issue_key: str) -> str:
    """The key itself when it looks like a Jira issue key (`HR-101`); else FormArgumentError."""
    if not isinstance(issue_key, str) or not ISSUE_KEY.match(issue_key):
        raise FormArgumentError(
            f"issue key {issue_key!r} is not a Jira issue key: expected a project key in "
            "capitals, a hyphen and a number from 1, such as HR-101"
        )
    return issue_key


def check_form_id(form_id: int) -> int:
    if not isinstance(form_id, int) or isinstance(form_id, bool) or form_id < 1:
        raise FormArgumentError(f"form id must be a whole number from 1, not {form_id!r}")
    return form_id


def check_word(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise FormArgumentError(f"{what} must be {' or '.join(allowed)}, not {value!r}")
    return value


class FormOperations(ABC):
    """The form calls; the client supplies sending, error mapping and logging."""

    @abstractmethod
    def _send(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: object | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response: ...

    @abstractmethod
    def _check_form_answer(self, operation: str, response: httpx.Response) -> None:
        """Raise the error of the tree that an error answer stands for."""

    def add_form(
        self,
        issue_key: str,
        template_form_id: int,
        *,
        visibility: VisibilityName | None = None,
        add: int | None = None,
    ) -> AddFormResult:
        """Add `add` forms (default 1) of a template to an issue; they get the next numbers."""
        check_issue_key(issue_key)
        if visibility is not None:
            check_word(visibility, VISIBILITIES, "visibility")
        try:
            request = AddFormRequest(
                template_form_id=template_form_id, visibility=visibility, add=add
            )
        except ValidationError as exc:
            raise FormArgumentError(f"add form to {issue_key}: {_first_error(exc)}") from None

        operation = f"add form of template {template_form_id} to {issue_key}"
        path = f"issue/{quote(issue_key)}/form"
        result = self._call(operation, "POST", path, AddFormResult, json=request.to_body())
        logger.info("Added %d form(s) to %s: %s.", len(result.forms), issue_key, _ids(result))
        return result

    def copy_form(
        self,
        issue_key: str,
        form_id: int,
        to_issue_key: str,
        *,
        status: FormStatusName | None = None,
        visibility: VisibilityName | None = None,
    ) -> FormSummary:
        """Copy a form with its answers to another issue; status and visibility as asked."""
        path = self._form_path(issue_key, form_id, "copy")
        check_issue_key(to_issue_key)
        if status is not None:
            check_word(status, FORM_STATUSES, "status")
        if visibility is not None:
            check_word(visibility, VISIBILITIES, "visibility")

        body = CopyFormRequest(status=status, visibility=visibility).to_body()
        operation = f"copy of form {form_id} on {issue_key} to {to_issue_key}"
        copied = self._call(
            operation, "POST", f"{path}/{quote(to_issue_key)}", FormSummary, json=body
        )
        logger.info(
            "Copied form %d of %s to %s as form %d.", form_id, issue_key, to_issue_key, copied.id
        )
        return copied

    def submit_form(self, issue_key: str, form_id: int) -> FormStateChangeResult:
        """Submit an open form; it ends submitted, or locked when its template says so."""
        return self._change_state("submit", issue_key, form_id)

    def reopen_form(self, issue_key: str, form_id: int) -> FormStateChangeResult:
        """Reopen a submitted form; a locked form must be unlocked first."""
        return self._change_state("reopen", issue_key, form_id)

    def unlock_form(self, issue_key: str, form_id: int) -> FormStateChangeResult:
        """Unlock a locked form, which leaves it submitted (needs Administer Projects)."""
        return self._change_state("unlock", issue_key, form_id)

    def change_form_visibility(
        self, issue_key: str, form_id: int, visibility: VisibilityName
    ) -> VisibilityChangeResult:
        """Make a form internal, or external (shown on the portal; service desks only)."""
        path = self._form_path(issue_key, form_id, "visibility")
        check_word(visibility, VISIBILITIES, "visibility")

        operation = f"visibility change of form {form_id} on {issue_key} to {visibility}"
        result = self._call(operation, "POST", f"{path}/{visibility}", VisibilityChangeResult)
        logger.info("Form %d on %s is now %s.", form_id, issue_key, result.visibility)
        return result

    def form_pdf(self, issue_key: str, form_id: int, *, plain: bool = False) -> bytes:
        """The form and its answers as a PDF document; `plain` asks for the unstyled one."""
        path = self._form_path(issue_key, form_id, "pdf")
        operation = f"PDF of form {form_id} on {issue_key}"

        params = {"plain": "true" if plain else "false"}
        response = self._send(operation, "GET", path, params=params)
        self._check_form_answer(operation, response)
        media_type = response.headers.get("Content-Type", "")
        if not media_type.startswith(PDF_MEDIA_TYPE) or not response.content.startswith(PDF_MAGIC):
            raise ApiError(
                f"{operation}: expected a PDF document, got {media_type or 'no content type'} "
                f"starting {truncate(response.content[:40].decode('latin-1'), 40)!r}",
                status_code=response.status_code,
            )
        return response.content

    def _change_state(self, verb: str, issue_key: str, form_id: int) -> FormStateChangeResult:
        path = self._form_path(issue_key, form_id, verb)
        operation = f"{verb} of form {form_id} on {issue_key}"

        result = self._call(operation, "POST", path, FormStateChangeResult)
        moved = " and moved the issue on" if result.transitioned else ""
        logger.info(
            "%s form %d on %s%s: now %s.",
            verb.capitalize(),
            form_id,
            issue_key,
            moved,
            result.status,
        )
        return result

    def _form_path(self, issue_key: str, form_id: int, action: str) -> str:
        check_issue_key(issue_key)
        check_form_id(form_id)
        return f"issue/{quote(issue_key)}/form/{form_id}/{action}"

    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        model: type[Answer],
        *,
        json: object | None = None,
    ) -> Answer:
        response = self._send(operation, method, path, json=json)
        self._check_form_answer(operation, response)
        try:
            return model.model_validate(response.json())
        except (JSONDecodeError, ValidationError) as exc:
            raise ApiError(
                f"{operation}: expected a {model.__name__} object, got "
                f"{truncate(response.text)!r} ({type(exc).__name__})",
                status_code=response.status_code,
            ) from exc


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    key = ".".join(str(part) for part in error["loc"])
    return f"{key}: {error['msg']} (got {error.get('input')!r})"


def _ids(result: AddFormResult) -> str:
    return ", ".join(str(form.id) for form in result.forms)
