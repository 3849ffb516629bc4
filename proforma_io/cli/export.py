"""`proforma export run|start|status|download` and `proforma config check`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from proforma_io.cli.common import (
    ConfigOption,
    JiraOption,
    JsonOption,
    client,
    err,
    fail,
    guarded,
    print_data,
    settings,
)
from proforma_io.config import ExportSettings, Settings
from proforma_io.errors import ConfigError
from proforma_io.landing import Landing
from proforma_io.load import credentials_for, export_spec, poll_policy
from proforma_io.models import ExportStatus

export_app = typer.Typer(
    help="Start, watch and download exports (every response to one template in one project).",
    no_args_is_help=True,
)
config_app = typer.Typer(help="Inspect the configuration file.", no_args_is_help=True)

ProjectArgument = Annotated[str, typer.Argument(help="Jira project key, e.g. HR.")]
TemplateArgument = Annotated[int, typer.Argument(help="Template form id in that project, e.g. 3.")]


def _export_settings(
    loaded: Settings, project: str, template: int, fmt: str | None
) -> ExportSettings:
    configured = next(
        (e for e in loaded.exports if e.project == project and e.template == template), None
    )
    raw = configured.model_dump() if configured else {"project": project, "template": template}
    if fmt is not None:
        raw["format"] = fmt
    return guarded(lambda: ExportSettings.model_validate(raw))


@export_app.command("run")
def export_run(
    project: ProjectArgument,
    template: TemplateArgument,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="json or xlsx (default: as configured, else json)."),
    ] = None,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start an export, wait for it with a progress bar, and land the file once.

    The file goes to the configured landing folder with its sha256 and size; the pipeline's
    next load reads it from there.

    Examples:

        proforma export run HR 3

        proforma export run HR 3 --format xlsx --json
    """
    from proforma_io.export_job import run_export

    loaded = settings(config, jira)
    spec = export_spec(_export_settings(loaded, project, template, fmt))
    landing = Landing(loaded.landing_dir)

    with client(loaded) as api, _progress(as_json) as advance:
        landed = guarded(
            lambda: run_export(
                api, spec, landing, policy=poll_policy(loaded.polling), on_progress=advance
            )
        )

    print_data(json.loads(landed.model_dump_json()), as_json)


@export_app.command("start")
def export_start(
    project: ProjectArgument,
    template: TemplateArgument,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="json or xlsx.")] = None,
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start an export and print its id; follow it with `proforma export status ID`.

    With the embedded sandbox the export lives only as long as this command, so use
    `proforma export run` there, or start `proforma sandbox` and pass
    `--jira http://127.0.0.1:8080/jira`.

    Example: proforma export start HR 3 --json
    """
    loaded = settings(config, jira)
    spec = export_spec(_export_settings(loaded, project, template, fmt))
    with client(loaded) as api:
        status = guarded(lambda: api.start_export(spec.request()))
    print_data(status.model_dump(by_alias=True, exclude_none=True), as_json)


@export_app.command("status")
def export_status(
    export_id: Annotated[str, typer.Argument(help="The id `export start` printed.")],
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print an export's progress, and its download URL once complete.

    Example: proforma export status responses-json-HR-3-1767225600000
    """
    loaded = settings(config, jira)
    with client(loaded) as api:
        status = guarded(lambda: api.export_status(export_id))
    print_data(status.model_dump(by_alias=True, exclude_none=True), as_json)


@export_app.command("download")
def export_download(
    export_id: Annotated[str, typer.Argument(help="A completed export's id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    config: ConfigOption = None,
    jira: JiraOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download a completed export to a file. The server deletes it after this: once only.

    Example: proforma export download responses-json-HR-3-1767225600000 -o hr.json
    """
    loaded = settings(config, jira)
    with client(loaded) as api:
        status = guarded(lambda: api.export_status(export_id))
        if status.failed:
            raise fail(f"export {export_id} failed: {status.message}")
        if not status.complete or not status.download_url:
            raise fail(f"export {export_id} is not complete yet ({status.progress}% done)")
        with output.open("wb") as sink:
            size = guarded(lambda: api.download_export(status, sink))
    print_data({"export_id": export_id, "path": str(output), "bytes": size}, as_json)


@config_app.command("check")
def config_check(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Validate the configuration file and print what it would load.

    Example: proforma config check -c proforma.yaml
    """
    loaded = settings(config)
    print_data(
        {
            "jira": loaded.jira.base_url,
            "projects": loaded.projects,
            "exports": [
                f"{e.project}/{e.template} as {e.format} -> {e.table_name}" for e in loaded.exports
            ],
            "landing": str(loaded.landing_dir),
            "lake": str(loaded.lake_dir),
            "warehouse": loaded.warehouse_display_url,
            "schedule": f"{loaded.schedule.cron} ({loaded.schedule.timezone})",
            "credentials": _credentials_state(loaded),
        },
        as_json,
    )


def _credentials_state(loaded: Settings) -> str:
    """Whether the environment holds the configured credentials (never their values)."""
    if loaded.jira.is_sandbox:
        return "built-in sandbox user"
    try:
        found = credentials_for(loaded.jira)
    except ConfigError as exc:
        return f"missing: {exc}"
    return "none configured" if found is None else "set in the environment"


@contextmanager
def _progress(quiet: bool) -> Iterator[Callable[[ExportStatus], None]]:
    if quiet or not err.is_terminal:
        yield lambda status: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("export", total=100)

        def advance(status: ExportStatus) -> None:
            bar.update(task, completed=status.progress, description=status.id)

        yield advance
