"""Typed request and response bodies of ProForma's Customer API (export calls)."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

ExportType = Literal["responses-json", "responses-xlsx"]
ExportFormat = Literal["json", "xlsx"]

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
