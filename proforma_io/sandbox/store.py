"""The sandbox's mutable store: projects, their templates, issues and the forms on issues.

Forms keep their stored shape (a version 2 `{id, updated, design, state}` document or a legacy
version 1 document), so an export returns exactly what the store holds, unknown keys included.
Generated forms of one design version share one design object: designs are replaced, never
edited in place, while a form's state belongs to the form alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ProjectKind = Literal["service_desk", "software", "business"]
FormModel = Literal["v1", "v2"]
FormStatus = Literal["o", "s", "l"]
Visibility = Literal["i", "e"]


@dataclass
class Project:
    """A Jira project; only a `service_desk` project can show forms externally."""

    key: str
    name: str
    kind: ProjectKind = "business"


@dataclass
class Template:
    """A project's form template; `design` is what a newly added form copies.

    For a version 2 template `design` is `{settings, layout, conditions, sections, questions}`;
    for a legacy template it is `{"questions": [...]}` without answers. `recorded_xlsx` holds a
    replayed spreadsheet served as is; `envelope_extras` holds export keys a replayed file had
    beyond the known ones. `submit_transition` names the Jira status a workflow rule moves the
    issue to when one of the template's forms is submitted (None: no rule).
    """

    project_key: str
    id: int
    name: str
    model: FormModel
    design: dict[str, Any]
    recorded_xlsx: bytes | None = None
    envelope_extras: dict[str, Any] = field(default_factory=dict)
    submit_transition: str | None = None


@dataclass
class Form:
    """One form instance on an issue, in its stored version 2 or legacy version 1 shape.

    `entry_extras` holds keys a replayed export entry carried beside issue, fields and form.
    """

    id: int
    template_id: int
    document: dict[str, Any]
    entry_extras: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> FormModel:
        return "v2" if "design" in self.document else "v1"

    @property
    def name(self) -> str:
        if self.model == "v1":
            return str(self.document.get("name", ""))
        return str((self.document["design"].get("settings") or {}).get("name", ""))

    @property
    def status(self) -> FormStatus:
        if self.model == "v1":
            return "s" if self.document.get("submitted") else "o"
        status: FormStatus = self.document.get("state", {}).get("status", "o")
        return status

    @property
    def visibility(self) -> Visibility:
        if self.model == "v1":
            return "i" if self.document.get("internal", True) else "e"
        visibility: Visibility = self.document.get("state", {}).get("visibility", "i")
        return visibility

    @property
    def updated(self) -> str:
        return str(self.document.get("updated", ""))

    @property
    def locks_on_submit(self) -> bool:
        """Whether submitting locks the form: its design's `settings.submit.lock`."""
        if self.model == "v1":
            return False
        settings = self.document["design"].get("settings") or {}
        return bool((settings.get("submit") or {}).get("lock", False))

    def set_status(self, status: FormStatus, updated: str) -> None:
        """Move the form to `status`; a legacy form knows only open and submitted."""
        if self.model == "v1":
            self.document["submitted"] = status != "o"
        else:
            self.document["state"]["status"] = status
        self.document["updated"] = updated

    def set_visibility(self, visibility: Visibility, updated: str) -> None:
        """Show the form internally only (`i`) or on the service-desk portal too (`e`)."""
        if self.model == "v1":
            self.document["internal"] = visibility == "i"
        else:
            self.document["state"]["visibility"] = visibility
        self.document["updated"] = updated

    def snapshot(self) -> dict[str, Any]:
        """The stored document, detached from later changes to this form's state."""
        return _detached(self.document)

    def copy(self) -> Form:
        return Form(self.id, self.template_id, _detached(self.document), dict(self.entry_extras))


@dataclass
class Issue:
    """A Jira issue: its field values and its forms, numbered by a per-issue counter."""

    key: str
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    forms: list[Form] = field(default_factory=list)
    next_form_id: int = 1

    @property
    def project_key(self) -> str:
        return self.key.rsplit("-", 1)[0]

    @property
    def status_name(self) -> str | None:
        """The name of the issue's Jira status, when its `status` field holds one."""
        status = self.fields.get("status")
        if isinstance(status, dict):
            name = status.get("name")
            return name if isinstance(name, str) else None
        return status if isinstance(status, str) else None

    def form(self, form_id: int) -> Form | None:
        return next((form for form in self.forms if form.id == form_id), None)

    def add_form(self, template_id: int, document: dict[str, Any]) -> Form:
        """Attach a new form under the next free number; numbers are never reused."""
        document["id"] = self.next_form_id
        form = Form(self.next_form_id, template_id, document)
        self.forms.append(form)
        self.next_form_id += 1
        return form

    def skip_form_id(self) -> None:
        """Use up a number, as a form added and deleted again does."""
        self.next_form_id += 1

    def attach(self, form: Form) -> None:
        """Attach a form under its own number, replacing any form holding that number."""
        self.forms = [kept for kept in self.forms if kept.id != form.id]
        self.forms.append(form)
        self.next_form_id = max(self.next_form_id, form.id + 1)

    def copy(self) -> Issue:
        forms = [form.copy() for form in self.forms]
        return Issue(self.key, self.id, dict(self.fields), forms, self.next_form_id)


class SandboxData:
    """Everything the sandbox serves, open to change while the sandbox runs."""

    def __init__(self) -> None:
        self._projects: dict[str, Project] = {}
        self._templates: dict[tuple[str, int], Template] = {}
        self._issues: dict[str, dict[str, Issue]] = {}

    @classmethod
    def generated(cls, seed: int = 42, issues_per_project: int = 40) -> SandboxData:
        """Deterministic, realistic data for projects HR, ITSD and OPS."""
        from proforma_io.sandbox.generate import generate

        return generate(seed=seed, issues_per_project=issues_per_project)

    @classmethod
    def from_folder(cls, folder: Path) -> SandboxData:
        """The forms of every `*.responses.json` export file in `folder`, served back."""
        from proforma_io.sandbox.replay import load_folder

        return load_folder(Path(folder))

    def projects(self) -> list[Project]:
        return sorted(self._projects.values(), key=lambda project: project.key)

    def project(self, key: str) -> Project | None:
        return self._projects.get(key)

    def templates(self, project_key: str) -> list[Template]:
        found = [t for (key, _), t in self._templates.items() if key == project_key]
        return sorted(found, key=lambda template: template.id)

    def template(self, project_key: str, template_id: int) -> Template | None:
        return self._templates.get((project_key, template_id))

    def issues(self, project_key: str) -> list[Issue]:
        """The project's issues in the order they were added."""
        return list(self._issues.get(project_key, {}).values())

    def issue(self, key: str) -> Issue | None:
        return self._issues.get(key.rsplit("-", 1)[0], {}).get(key)

    def forms(self, project_key: str, template_id: int) -> Iterator[tuple[Issue, Form]]:
        """The forms of one template, by issue in insertion order, then by form number."""
        for issue in self._issues.get(project_key, {}).values():
            for form in sorted(issue.forms, key=lambda form: form.id):
                if form.template_id == template_id:
                    yield issue, form

    def form_count(self, project_key: str, template_id: int) -> int:
        return sum(1 for _ in self.forms(project_key, template_id))

    def add_project(self, project: Project) -> None:
        self._projects[project.key] = project
        self._issues.setdefault(project.key, {})

    def add_template(self, template: Template) -> None:
        if template.project_key not in self._projects:
            raise KeyError(f"no project {template.project_key!r} for template {template.id}")
        self._templates[(template.project_key, template.id)] = template

    def add_issue(self, issue: Issue) -> None:
        if issue.project_key not in self._projects:
            raise KeyError(f"no project {issue.project_key!r} for issue {issue.key}")
        self._issues[issue.project_key][issue.key] = issue

    def copy(self) -> SandboxData:
        """A store whose issues and form states change independently of this one."""
        copied = SandboxData()
        copied._projects = dict(self._projects)
        copied._templates = dict(self._templates)
        copied._issues = {
            key: {issue.key: issue.copy() for issue in issues.values()}
            for key, issues in self._issues.items()
        }
        return copied

    def merge(self, other: SandboxData) -> SandboxData:
        """A new store: this one with `other` layered on top, `other` winning per template.

        A template of `other` replaces this store's template of the same project and id, with
        all its forms. Known projects keep their name and kind, which replayed files lack;
        an issue in both takes `other`'s field values, and `other`'s form wins a form number.
        """
        merged = self.copy()

        for project in other.projects():
            if merged.project(project.key) is None:
                merged.add_project(project)

        for template in other._templates.values():
            merged.add_template(template)
            merged._drop_forms(template.project_key, template.id)

        for project_key, issues in other._issues.items():
            for incoming in issues.values():
                merged._absorb(project_key, incoming)
        return merged

    def _drop_forms(self, project_key: str, template_id: int) -> None:
        for issue in self._issues.get(project_key, {}).values():
            issue.forms = [form for form in issue.forms if form.template_id != template_id]

    def _absorb(self, project_key: str, incoming: Issue) -> None:
        issue = self._issues[project_key].get(incoming.key)
        if issue is None:
            issue = Issue(incoming.key, incoming.id, next_form_id=incoming.next_form_id)
            self._issues[project_key][incoming.key] = issue
        issue.fields.update(incoming.fields)
        for form in incoming.forms:
            issue.attach(form.copy())


def _detached(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored form whose state (v2) or answered questions (v1) are its own."""
    copied = dict(document)
    state = copied.get("state")
    if isinstance(state, dict):
        copied["state"] = dict(state)
        if isinstance(state.get("answers"), dict):
            copied["state"]["answers"] = dict(state["answers"])
    questions = copied.get("questions")
    if isinstance(questions, list):
        copied["questions"] = [dict(q) if isinstance(q, dict) else q for q in questions]
    return copied
