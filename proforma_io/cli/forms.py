"""`proforma form add|copy|submit|reopen|unlock|pdf|visibility`: forms on issues."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from proforma_io.cli.common import (
    ConfigOption,
    JiraOption,
    JsonOption,
    api_settings,
    client,
    fail,
    guarded,
    print_data,
    print_line,
)
from proforma_io.client import ProformaClient
from proforma_io.form_operations import check_form_id, check_issue_key
from proforma_io.models import (
    FormStateChangeResult,
    FormStatusName,
    FormSummary,
    VisibilityName,
)

T = TypeVar("T")

form_app = typer.Typer(
    help="""Work with the forms on Jira issues: add, copy, submit, reopen, unlock, PDF, visibility.

    A form is known by its issue key and its number on that issue (the first form is 1).
    Life cycle: open -> submit -> submitted (or locked, when the template locks on submit);
    reopen makes a submitted form open; a locked form needs unlock (project administrators)
    before reopen. External visibility exists only on service-desk projects.

    Against the embedded sandbox (jira.base_url: sandbox) changes last only as long as the
    command; run `proforma sandbox` and pass --jira http://127.0.0.1:8080/jira to keep them.
    """,
    no_args_is_help=True,
)

IssueArgument = Annotated[str, typer.Argument(help="Jira issue key, e.g. HR-101.")]
FormArgument = Annotated[int, typer.Argument(help="The form's number on the issue, from 1.")]
VisibilityOption = Annotated[
    VisibilityName | None,
    typer.Option(
        "--visibility",
        help="internal, or external (shown on the portal; service desks only).",
        show_default=False,
    ),
]


@form_app.command("add")
def form_add(
    issue: IssueArgument,
    template: Annotated[int, typer.Argument(help="Template form id in the issue's project.")],
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many forms.")] = 1,
    visibility: VisibilityOption = None,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add open forms of a template to an issue; each takes the issue's next number.

    Examples:

        proforma form add HR-101 3

        proforma form add ITSD-102 11 --count 2 --visibility external --json
    """
    guarded(lambda: check_issue_key(issue))

    def add(api: ProformaClient) -> list[FormSummary]:
        return api.add_form(issue, template, visibility=visibility, add=count).forms

    forms = _call(config, jira, add)

    if as_json:
        print_data([_dumped(form) for form in forms], as_json)
        return
    for form in forms:
        print_line(_described(form))


@form_app.command("copy")
def form_copy(
    issue: IssueArgument,
    form: FormArgument,
    to_issue: Annotated[str, typer.Argument(help="The issue that receives the copy.")],
    status: Annotated[
        FormStatusName | None,
        typer.Option(
            "--status",
            help="Status of the copy (default: the source form's).",
            show_default=False,
        ),
    ] = None,
    visibility: VisibilityOption = None,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a form and its answers to another issue, as that issue's next form.

    Examples:

        proforma form copy HR-101 1 HR-102

        proforma form copy ITSD-101 1 ITSD-104 --status open --visibility external
    """
    guarded(lambda: (check_issue_key(issue), check_form_id(form), check_issue_key(to_issue)))

    def copy(api: ProformaClient) -> FormSummary:
        return api.copy_form(issue, form, to_issue, status=status, visibility=visibility)

    copied = _call(config, jira, copy)

    if as_json:
        print_data(_dumped(copied), as_json)
        return
    print_line(_described(copied))


@form_app.command("submit")
def form_submit(
    issue: IssueArgument,
    form: FormArgument,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Submit an open form; it ends submitted, or locked when its template says so.

    Prints whether a workflow rule moved the issue ("transitioned").

    Example: proforma form submit HR-101 2
    """
    _change_state(issue, form, config, jira, as_json, ProformaClient.submit_form)


@form_app.command("reopen")
def form_reopen(
    issue: IssueArgument,
    form: FormArgument,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Reopen a submitted form for editing (a locked one needs `form unlock` first).

    Example: proforma form reopen HR-101 1
    """
    _change_state(issue, form, config, jira, as_json, ProformaClient.reopen_form)


@form_app.command("unlock")
def form_unlock(
    issue: IssueArgument,
    form: FormArgument,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Unlock a locked form, which leaves it submitted; needs Administer Projects.

    Example: proforma form unlock OPS-102 2 && proforma form reopen OPS-102 2
    """
    _change_state(issue, form, config, jira, as_json, ProformaClient.unlock_form)


@form_app.command("pdf")
def form_pdf(
    issue: IssueArgument,
    form: FormArgument,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: <ISSUE>-form-<N>.pdf)."),
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="The unstyled document instead of the rich one.")
    ] = False,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Save the form and its answers as a PDF document.

    Examples:

        proforma form pdf HR-101 1

        proforma form pdf HR-101 1 --plain -o archive/HR-101-1.pdf
    """
    guarded(lambda: (check_issue_key(issue), check_form_id(form)))
    target = output or Path(f"{issue}-form-{form}.pdf")

    content = _call(config, jira, lambda api: api.form_pdf(issue, form, plain=plain))
    try:
        target.write_bytes(content)
    except OSError as exc:
        raise fail(f"cannot write {target}: {exc.strerror or exc}") from None

    written = {"issueKey": issue, "formId": form, "path": str(target), "bytes": len(content)}
    if as_json:
        print_data(written, as_json)
        return
    print_line(f"{issue} form {form}: {len(content)} bytes written to {target}")


@form_app.command("visibility")
def form_visibility(
    issue: IssueArgument,
    form: FormArgument,
    visibility: Annotated[
        VisibilityName,
        typer.Argument(help="internal, or external (service-desk projects only)."),
    ],
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a form internal, or external (shown to customers on the service-desk portal).

    Example: proforma form visibility ITSD-101 1 external
    """
    guarded(lambda: (check_issue_key(issue), check_form_id(form)))

    result = _call(
        config,
        jira,
        lambda api: api.change_form_visibility(issue, form, visibility),
    )

    if as_json:
        print_data({"issueKey": issue, "formId": form, **result.model_dump()}, as_json)
        return
    print_line(f"{issue} form {form}: {result.visibility}")


def _change_state(
    issue: str,
    form: int,
    config: Path | None,
    jira: str | None,
    as_json: bool,
    change: Callable[[ProformaClient, str, int], FormStateChangeResult],
) -> None:
    guarded(lambda: (check_issue_key(issue), check_form_id(form)))

    result = _call(config, jira, lambda api: change(api, issue, form))

    if as_json:
        print_data({"issueKey": issue, "formId": form, **result.model_dump()}, as_json)
        return
    moved = " (the issue transitioned)" if result.transitioned else ""
    print_line(f"{issue} form {form}: {result.status}{moved}")


def _call(config: Path | None, jira: str | None, action: Callable[[ProformaClient], T]) -> T:
    loaded = api_settings(config, jira)
    with client(loaded) as api:
        return guarded(lambda: action(api))


def _dumped(form: FormSummary) -> dict[str, object]:
    return form.model_dump(by_alias=True)


def _described(form: FormSummary) -> str:
    return f"{form.issue_key} form {form.id}: {form.name} ({form.status}, {form.visibility})"
