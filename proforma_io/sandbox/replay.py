"""Replay of export files: a folder of `*.responses.json` files becomes sandbox data.

Each file holds the forms of one project and template; its entries give the issues, their
field values and the stored forms, kept whole with any keys the sandbox does not know. A
sibling `<stem>.responses.xlsx` is served as recorded for spreadsheet exports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proforma_io.errors import ExportFileError
from proforma_io.sandbox.store import Form, Issue, Project, SandboxData, Template

SUFFIX = ".responses.json"
KNOWN_ENVELOPE_KEYS = {"projectKey", "templateFormId", "exportType", "exported", "responses"}
KNOWN_ENTRY_KEYS = {"issueKey", "issueId", "fields", "form"}


def load_folder(folder: Path) -> SandboxData:
    """Every export file in `folder`; a later file (by name) wins a project and template."""
    if not folder.is_dir():
        raise ExportFileError(folder, "expected a folder of *.responses.json files, found none")

    data = SandboxData()
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        data = data.merge(load_file(path))
    return data


def load_file(path: Path) -> SandboxData:
    """The project, template, issues and forms of one `responses-json` export file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportFileError(path, f"expected a readable JSON export, got: {error}") from error

    entries = document.get("responses") if isinstance(document, dict) else document
    if not isinstance(entries, list):
        raise ExportFileError(path, "expected a `responses` list or a bare list of entries")
    envelope = document if isinstance(document, dict) else {}
    issues = [_issue(path, entry, index) for index, entry in enumerate(entries)]
    project_key = str(envelope.get("projectKey") or _project_of(path, issues))
    template_id = _template_id(path, envelope, [form for _, form in issues])

    data = SandboxData()
    external = any(form.visibility == "e" for _, form in issues)
    data.add_project(Project(project_key, project_key, "service_desk" if external else "business"))
    template = _template(path, project_key, template_id, [form for _, form in issues])
    template.envelope_extras = {k: v for k, v in envelope.items() if k not in KNOWN_ENVELOPE_KEYS}
    recorded = path.with_name(path.name.removesuffix(".json") + ".xlsx")
    template.recorded_xlsx = recorded.read_bytes() if recorded.is_file() else None
    data.add_template(template)
    _add_issues(data, template_id, issues)
    return data


def _issue(path: Path, entry: Any, index: int) -> tuple[Issue, Form]:
    where = f"responses[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("form"), dict):
        raise ExportFileError(path, "expected an entry with a `form` object", where=where)
    if not isinstance(entry.get("issueKey"), str) or "-" not in entry["issueKey"]:
        got = entry.get("issueKey")
        raise ExportFileError(path, f"expected an issueKey such as HR-1, got {got!r}", where=where)

    document = entry["form"]
    form_id = document.get("id")
    if not isinstance(form_id, int) or isinstance(form_id, bool):
        raise ExportFileError(path, f"expected an integer form id, got {form_id!r}", where=where)
    if "design" not in document and "questions" not in document:
        raise ExportFileError(path, "expected a form with `design` or `questions`", where=where)

    fields = entry.get("fields")
    issue = Issue(entry["issueKey"], str(entry.get("issueId", "")))
    issue.fields = dict(fields) if isinstance(fields, dict) else {}
    extras = {k: v for k, v in entry.items() if k not in KNOWN_ENTRY_KEYS}
    return issue, Form(form_id, 0, document, extras)


def _project_of(path: Path, issues: list[tuple[Issue, Form]]) -> str:
    keys = {issue.project_key for issue, _ in issues}
    if len(keys) != 1:
        raise ExportFileError(path, f"expected the issues of one project, got {sorted(keys)}")
    return keys.pop()


def _template_id(path: Path, envelope: dict[str, Any], forms: list[Form]) -> int:
    named = envelope.get("templateFormId")
    if named is None:
        found = {_design_template_id(form) for form in forms} - {None}
        named = found.pop() if len(found) == 1 else None
    if isinstance(named, str) and named.isdecimal():
        named = int(named)
    if not isinstance(named, int) or isinstance(named, bool):
        raise ExportFileError(path, f"expected an integer templateFormId, got {named!r}")
    return named


def _design_template_id(form: Form) -> Any:
    if form.model == "v1":
        return form.document.get("projectFormId")
    return form.document["design"].get("settings", {}).get("templateId")


def _template(path: Path, project_key: str, template_id: int, forms: list[Form]) -> Template:
    """The template as its newest instance shows it."""
    if not forms:
        return Template(project_key, template_id, path.name.removesuffix(SUFFIX), "v2", {})

    newest = max(forms, key=lambda form: form.updated)
    if newest.model == "v1":
        questions = [
            {k: v for k, v in question.items() if k != "text"}
            for question in newest.document.get("questions") or []
            if isinstance(question, dict)
        ]
        return Template(project_key, template_id, newest.name, "v1", {"questions": questions})
    return Template(project_key, template_id, newest.name, "v2", newest.document["design"])


def _add_issues(data: SandboxData, template_id: int, issues: list[tuple[Issue, Form]]) -> None:
    for incoming, form in issues:
        issue = data.issue(incoming.key)
        if issue is None:
            issue = incoming
            data.add_issue(issue)
        else:
            issue.fields.update(incoming.fields)
        form.template_id = template_id
        issue.attach(form)
