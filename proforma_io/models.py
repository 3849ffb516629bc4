"""Typed request and response bodies of ProForma's Customer API: exports and form operations.

Form status and visibility are words on the wire (`open`, `submitted`, `locked`; `internal`,
`external`); answers that carry the stored one-letter codes (`o`, `s`, `l`; `i`, `e`) are read
as the same words.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

ExportType = Literal["responses-json", "responses-xlsx"]
ExportFormat = Literal["json", "xlsx"]
FormStatusName = Literal["open", "submitted", "locked"]
VisibilityName = Literal["internal", "external"]

FORM_STATUSES: tuple[FormStatusName, ...] = ("open", "submitted", "locked")
VISIBILITIES: tuple[VisibilityName, ...] = ("internal", "external")
STATUS_WORDS = {"o": "open", "s": "submitted", "l": "locked"}
VISIBILITY_WORDS = {"i": "internal", "e": "external"}

EXPORT_TYPES: dict[ExportFormat, ExportType] = {
    "json": "responses-json",
    "xlsx": "responses-xlsx",
}


def export_type_for(export_format: ExportFormat) -> ExportType:
    """The API's export type for a file format (`json` -> `responses-json`)."""
    if export_format not in EXPORT_TYPES:
        raise ValueError(f"export format must be 'json' or 'xlsx', not {export_format!r}")
    return EXPORT_TYPES[export_format]


class _ApiModel(BaseModel):
    """Snake-case fields in Python, camelCase keys on the wire."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ExportRequest(_ApiModel):
    """The body of `POST /export`."""

    type: ExportType
    project_key: str
    template_form_id: int
    fields: list[str] | None = None
    jql: str | None = None

    def to_body(self) -> dict[str, Any]:
        """The JSON body with camelCase keys, leaving out optional keys that are not set."""
        return self.model_dump(by_alias=True, exclude_none=True)


class ExportStatus(_ApiModel):
    """The answer of `POST /export` and `GET /export/{exportId}`; unknown keys are kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    type: str
    id: str
    complete: bool = False
    failed: bool = False
    progress: int = 0
    download_url: str | None = None
    message: str | None = None

    @property
    def file_name(self) -> str | None:
        """The last path segment of `downloadUrl`, decoded; None without a download URL."""
        if not self.download_url:
            return None
        segment = urlsplit(self.download_url).path.rsplit("/", 1)[-1]
        return unquote(segment) or None


class ApiErrorBody(_ApiModel):
    """The JSON body of an error answer: `{error, message?, details?}`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    error: str
    message: str | None = None
    details: Any = None


def _status_word(value: Any) -> Any:
    return STATUS_WORDS.get(value, value) if isinstance(value, str) else value


def _visibility_word(value: Any) -> Any:
    return VISIBILITY_WORDS.get(value, value) if isinstance(value, str) else value


FormStatusField = Annotated[FormStatusName, BeforeValidator(_status_word)]
VisibilityField = Annotated[VisibilityName, BeforeValidator(_visibility_word)]


class _ApiAnswer(_ApiModel):
    """An answer body: camelCase keys, unknown keys kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class AddFormRequest(_ApiModel):
    """The body of `POST /issue/{issueKey}/form`: add `add` forms (default 1) of a template."""

    template_form_id: Annotated[int, Field(ge=1)]
    visibility: VisibilityName | None = None
    add: Annotated[int, Field(ge=1)] | None = None

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class CopyFormRequest(_ApiModel):
    """The body of `POST .../form/{formId}/copy/{toIssueKey}`; unset keys keep the source's."""

    status: FormStatusName | None = None
    visibility: VisibilityName | None = None

    def to_body(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class FormSummary(_ApiAnswer):
    """A form on an issue as the add and copy answers describe it."""

    issue_key: str
    id: int
    template_form_id: int | None = None
    name: str = ""
    status: FormStatusField
    visibility: VisibilityField
    updated: str | None = None


class AddFormResult(_ApiAnswer):
    """The answer of `POST /issue/{issueKey}/form`: the forms added, in number order."""

    forms: list[FormSummary]


class FormStateChangeResult(_ApiAnswer):
    """The answer of submit, reopen and unlock: the form's new status.

    `transitioned` is true when a workflow rule moved the issue to another status on submit.
    """

    status: FormStatusField
    transitioned: bool = False


class VisibilityChangeResult(_ApiAnswer):
    """The answer of `POST .../form/{formId}/visibility/{visibility}`."""

    visibility: VisibilityField
