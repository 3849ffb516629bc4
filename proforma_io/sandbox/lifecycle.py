"""The life of a form on an issue: added, copied, submitted, reopened, unlocked, shown or hidden.

A form is open (`o`) when added. Submitting moves it to submitted (`s`), or to locked (`l`) when
its design's submit settings say lock. Reopening moves a submitted form back to open; a locked
form must first be unlocked, which moves it to submitted. That reading follows Atlassian's
"What are form states?" page: a form is locked once submitted, so lifting the lock leaves it
submitted. A legacy (version 1) form knows only open and submitted. External visibility exists
only on service-desk projects. Each change stamps the form's `updated` time, so the next export
shows it.

Operations raise `FormMissing` (the API answers 404) or `FormRefused` (400 `client`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from proforma_io.sandbox.designs import LEGACY_SCHEMA_VERSION, legacy_form_hash
from proforma_io.sandbox.store import (
    Form,
    FormStatus,
    Issue,
    Project,
    SandboxData,
    Template,
    Visibility,
)

STATUS_NAMES: dict[FormStatus, str] = {"o": "open", "s": "submitted", "l": "locked"}
STATUS_CODES: dict[str, FormStatus] = {name: code for code, name in STATUS_NAMES.items()}
VISIBILITY_NAMES: dict[Visibility, str] = {"i": "internal", "e": "external"}
VISIBILITY_CODES: dict[str, Visibility] = {name: code for code, name in VISIBILITY_NAMES.items()}
MAX_ADDED = 50
NO_TEMPLATE = 0


class FormMissing(Exception):
    """The issue or the form does not exist."""


class FormRefused(Exception):
    """The operation does not apply to the form in its current state, or to its project."""


@dataclass(frozen=True)
class StateChange:
    """A form's status after a change, and whether a workflow rule moved its issue."""

    status: FormStatus
    transitioned: bool = False


def now() -> str:
    """The current UTC time as ProForma stamps `updated`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def find_issue(data: SandboxData, issue_key: str) -> Issue:
    issue = data.issue(issue_key)
    if issue is None:
        raise FormMissing(f"Issue {issue_key} does not exist.")
    return issue


def find_form(data: SandboxData, issue_key: str, form_id: int) -> tuple[Issue, Form]:
    issue = find_issue(data, issue_key)
    form = issue.form(form_id)
    if form is None:
        numbers = ", ".join(str(form.id) for form in sorted(issue.forms, key=lambda f: f.id))
        raise FormMissing(
            f"Issue {issue_key} has no form {form_id} (its forms: {numbers or 'none'})."
        )
    return issue, form


def add_forms(
    data: SandboxData, issue_key: str, template_id: int, visibility: Visibility, count: int
) -> list[Form]:
    """Add `count` open, unanswered forms of a template of the issue's project."""
    issue = find_issue(data, issue_key)
    project = _project(data, issue)
    template = data.template(project.key, template_id)
    if template is None:
        raise FormRefused(f"Template form {template_id} does not exist in project {project.key}.")
    if not 1 <= count <= MAX_ADDED:
        raise FormRefused(f"add must be between 1 and {MAX_ADDED} forms, not {count}.")
    _check_visibility(project, visibility)

    stamp = now()
    return [
        issue.add_form(template.id, _new_document(template, visibility, stamp))
        for _ in range(count)
    ]


def copy_form(
    data: SandboxData,
    issue_key: str,
    form_id: int,
    to_issue_key: str,
    status: FormStatus | None,
    visibility: Visibility | None,
) -> Form:
    """Copy a form with its answers onto an issue, under that issue's next form number.

    Status and visibility default to the source form's; an external source copied onto an
    issue outside a service desk becomes internal unless external is asked for (then refused).
    A copy onto another project's issue belongs to none of that project's templates, so that
    project's exports leave it out.
    """
    _, form = find_form(data, issue_key, form_id)
    target = find_issue(data, to_issue_key)
    project = _project(data, target)
    if visibility is not None:
        _check_visibility(project, visibility)
    if status == "l" and form.model == "v1":
        raise FormRefused(
            f"Form {form_id} on {issue_key} is a legacy form, which cannot be locked."
        )

    chosen_visibility = visibility or form.visibility
    if project.kind != "service_desk":
        chosen_visibility = "i"
    same_project = target.project_key == issue_key.rsplit("-", 1)[0]
    copied = form.copy().document
    added = target.add_form(form.template_id if same_project else NO_TEMPLATE, copied)
    stamp = now()
    added.set_status(status or form.status, stamp)
    added.set_visibility(chosen_visibility, stamp)
    return added


def submit(data: SandboxData, issue_key: str, form_id: int) -> StateChange:
    """Submit an open form: submitted, or locked when its design says so."""
    issue, form = find_form(data, issue_key, form_id)
    if form.status != "o":
        verb = "reopen" if form.status == "s" else "unlock and reopen"
        raise FormRefused(
            f"Form {form_id} on {issue_key} is already {STATUS_NAMES[form.status]}; "
            f"{verb} it before submitting it again."
        )

    status: FormStatus = "l" if form.locks_on_submit else "s"
    form.set_status(status, now())
    return StateChange(status, _transition(data, issue, form))


def reopen(data: SandboxData, issue_key: str, form_id: int) -> StateChange:
    """Reopen a submitted form for editing."""
    _, form = find_form(data, issue_key, form_id)
    if form.status == "o":
        raise FormRefused(f"Form {form_id} on {issue_key} is already open.")
    if form.status == "l":
        raise FormRefused(
            f"Form {form_id} on {issue_key} is locked; unlock it (Administer Projects) "
            "before reopening it."
        )

    form.set_status("o", now())
    return StateChange("o")


def unlock(data: SandboxData, issue_key: str, form_id: int) -> StateChange:
    """Lift the lock of a locked form, which leaves it submitted."""
    _, form = find_form(data, issue_key, form_id)
    if form.status != "l":
        raise FormRefused(
            f"Form {form_id} on {issue_key} is not locked (it is {STATUS_NAMES[form.status]})."
        )

    form.set_status("s", now())
    return StateChange("s")


def change_visibility(
    data: SandboxData, issue_key: str, form_id: int, visibility: Visibility
) -> Visibility:
    """Show a form on the service-desk portal (`e`) or to agents only (`i`)."""
    issue, form = find_form(data, issue_key, form_id)
    _check_visibility(_project(data, issue), visibility)

    form.set_visibility(visibility, now())
    return visibility


def _project(data: SandboxData, issue: Issue) -> Project:
    project = data.project(issue.project_key)
    if project is None:
        raise FormMissing(f"Project {issue.project_key} of issue {issue.key} does not exist.")
    return project


def _check_visibility(project: Project, visibility: Visibility) -> None:
    if visibility == "e" and project.kind != "service_desk":
        raise FormRefused(
            f"Project {project.key} is not a service desk project, so its forms cannot be "
            "external; only internal is allowed."
        )


def _transition(data: SandboxData, issue: Issue, form: Form) -> bool:
    """Apply the template's on-submit rule; True when it moved the issue to another status."""
    template = data.template(issue.project_key, form.template_id)
    target = template.submit_transition if template is not None else None
    if target is None or issue.status_name == target:
        return False
    issue.fields["status"] = {"name": target}
    return True


def _new_document(template: Template, visibility: Visibility, stamp: str) -> dict[str, Any]:
    """A fresh form of the template: open and unanswered.

    A version 2 form shares the template's design object, which is replaced, never edited.
    """
    if template.model == "v2":
        state: dict[str, Any] = {"visibility": visibility, "status": "o", "answers": {}}
        return {"id": 0, "updated": stamp, "design": template.design, "state": state}

    questions = [dict(question) for question in template.design.get("questions") or []]
    return {
        "schemaVersion": LEGACY_SCHEMA_VERSION,
        "id": 0,
        "projectFormId": template.id,
        "internal": visibility == "i",
        "submitted": False,
        "name": template.name,
        "updated": stamp,
        "questions": questions,
        "formHash": legacy_form_hash(questions),
    }
