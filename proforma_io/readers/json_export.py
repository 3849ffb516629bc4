"""Reader of `responses-json` export files.

ProForma does not publish the layout of this file, so entries are found by their shape rather
than by one envelope: the document may be a bare list of entries, or an object whose first list
of entries holds the responses while its other keys describe the export. The document is read
as a stream, one entry at a time, so the design copy each form carries is not all kept at once.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from proforma_io.errors import ExportFileError
from proforma_io.forms import FormResponse
from proforma_io.readers.gc_pause import collector_paused
from proforma_io.readers.json_forms import EntryReader, form_model, is_entry, nested_forms
from proforma_io.readers.json_stream import JsonStream, JsonStreamError

_ENVELOPE_KEYS = {"projectKey", "templateFormId", "exportType", "exported"}


@dataclass(frozen=True)
class JsonExport:
    """One `responses-json` file: envelope metadata where present, and its form responses."""

    path: Path
    project_key: str | None
    template_id: int | None
    export_type: str | None
    exported: dt.datetime | None
    responses: list[FormResponse]
    extra: dict[str, Any] = field(default_factory=dict)


def read_json_export(path: Path) -> JsonExport:
    """Read every form response of a `responses-json` file."""
    with collector_paused():
        return _read(path)


def _read(path: Path) -> JsonExport:
    reader = EntryReader(path)
    try:
        with path.open("rb") as raw:
            stream = JsonStream(_text(raw))
            envelope, responses = _read_document(path, stream, reader)
            stream.finish()
    except JsonStreamError as exc:
        raise ExportFileError(path, f"malformed JSON: {exc.problem}", where=exc.where) from exc
    except UnicodeDecodeError as exc:
        raise ExportFileError(path, f"expected UTF-8 JSON text: {exc.reason}") from exc
    except OSError as exc:
        raise ExportFileError(path, f"cannot read the file: {exc.strerror or exc}") from exc

    return JsonExport(
        path=path,
        project_key=_optional_str(envelope.get("projectKey")),
        template_id=_optional_int(envelope.get("templateFormId")),
        export_type=_optional_str(envelope.get("exportType")),
        exported=reader.timestamp(envelope.get("exported"), "$.exported"),
        responses=responses,
        extra={k: v for k, v in envelope.items() if k not in _ENVELOPE_KEYS},
    )


def _text(raw: io.BufferedReader) -> TextIO:
    """The file as text in the encoding JSON allows (UTF-8, -16 or -32, found from its start)."""
    encoding = json.detect_encoding(raw.peek(4)[:4])
    return io.TextIOWrapper(raw, encoding=encoding, errors="strict", newline="")


def _read_document(
    path: Path, stream: JsonStream, reader: EntryReader
) -> tuple[dict[str, Any], list[FormResponse]]:
    """The envelope (empty for a bare list) and the form responses of the document."""
    start = stream.peek()
    if start == "[":
        return {}, _read_entries(stream, reader, "$", first=None)
    if start != "{":
        found = "nothing" if not start else _kind(stream.value())
        expected = "an object or a list of form responses"
        raise ExportFileError(path, f"expected {expected}, found {found}", where="$")

    envelope: dict[str, Any] = {}
    responses: list[FormResponse] | None = None
    for key in stream.members():
        if responses is not None or stream.peek() != "[":
            envelope[key] = stream.value()
            continue
        elements = stream.elements()
        if next(elements, None) is None:
            envelope[key] = []
            continue
        first = stream.value()
        if is_entry(first):
            responses = _read_entries(stream, reader, f"$.{key}", first=(first, elements))
        else:
            envelope[key] = [first, *(stream.value() for _ in elements)]

    if responses is not None:
        return envelope, responses
    return _without_entries_list(path, envelope, reader)


def _read_entries(
    stream: JsonStream,
    reader: EntryReader,
    where: str,
    first: tuple[Any, Any] | None,
) -> list[FormResponse]:
    """Every entry of the list being read; `first` is an entry already taken from it."""
    responses: list[FormResponse] = []
    if first is None:
        elements = stream.elements()
    else:
        entry, elements = first
        responses.extend(reader.entry(entry, f"{where}[0]"))
    for index in elements:
        responses.extend(reader.entry(stream.value(), f"{where}[{index}]"))
    return responses


def _without_entries_list(
    path: Path, document: dict[str, Any], reader: EntryReader
) -> tuple[dict[str, Any], list[FormResponse]]:
    """A document with no list of entries: one entry itself, or an export with no responses."""
    if form_model(document) or nested_forms(document):
        return {}, list(reader.entry(document, "$"))

    empty = next((k for k, v in document.items() if v == [] and k == "responses"), None)
    empty = empty or next((k for k, v in document.items() if v == []), None)
    if empty is not None:
        return {k: v for k, v in document.items() if k != empty}, []

    keys = ", ".join(sorted(map(str, document))[:20]) or "none"
    raise ExportFileError(
        path,
        "expected form responses (forms with design and state, or questions with t and q), "
        f"found no form; top-level keys: {keys}",
        where="$",
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", type(None): "null"}
    return names.get(type(value), type(value).__name__)
