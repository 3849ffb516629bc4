"""The `proforma` command: run exports by hand, check the configuration, serve the sandbox.

Every command reads the same configuration file as the pipeline (`--config`, else
`PROFORMA_CONFIG`, else ./proforma.yaml). Errors end with a one-line reason and exit status 1
(2 for a bad configuration or usage).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from proforma_io.config import ExportSettings, Settings, describe_errors, load_settings
from proforma_io.errors import ConfigError, ProformaError
from proforma_io.landing import Landing
from proforma_io.load import ApiTarget, credentials_for, export_spec, open_client, poll_policy
from proforma_io.models import ExportStatus

app = typer.Typer(
    help="Export ProForma form responses from Jira, and try it all on a local sandbox.",
    no_args_is_help=True,
    add_completion=False,
)
export_app = typer.Typer(
    help="Start, watch and download exports (one template form in one project).",
    no_args_is_help=True,
)
config_app = typer.Typer(help="Inspect the configuration file.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(config_app, name="config")

err = Console(stderr=True)
out = Console()

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Configuration file (default: PROFORMA_CONFIG or ./proforma.yaml)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
T = TypeVar("T")


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _guarded(action: Callable[[], T]) -> T:
    """Run an action, turning library errors into a one-line reason and an exit status."""
    try:
        return action()
    except ConfigError as exc:
        raise _fail(str(exc), 2) from None
    except ValidationError as exc:
        raise _fail("invalid arguments:\n" + describe_errors(exc.errors()), 2) from None
    except ProformaError as exc:
        raise _fail(str(exc)) from None


def _settings(config: Path | None) -> Settings:
    return _guarded(lambda: load_settings(config))


@contextmanager
def _client(settings: Settings) -> Iterator[Any]:
    target = ApiTarget(
        settings.jira, settings.sandbox, _guarded(lambda: credentials_for(settings.jira))
    )
    with open_client(target) as client:
        yield client


def _export_settings(
    settings: Settings, project: str, template: int, fmt: str | None
) -> ExportSettings:
    configured = next(
        (e for e in settings.exports if e.project == project and e.template == template), None
    )
    raw = configured.model_dump() if configured else {"project": project, "template": template}
    if fmt is not None:
        raw["format"] = fmt
    return _guarded(lambda: ExportSettings.model_validate(raw))


def _print(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(data, default=str))
        return
    for key, value in data.items():
        out.print(f"{key}: {value}", highlight=False)


@export_app.command("run")
def export_run(
    project: Annotated[str, typer.Argument(help="Jira project key, e.g. HR.")],
    template: Annotated[int, typer.Argument(help="Template form id in that project, e.g. 3.")],
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="json or xlsx (default: as configured, else json)."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start an export, wait for it with a progress bar, and land the file once.

    The file goes to the configured landing folder with its sha256 and size; the pipeline's
    next load reads it from there.

    Example: proforma export run HR 3 --format xlsx
    """
    from proforma_io.export_job import run_export

    settings = _settings(config)
    spec = export_spec(_export_settings(settings, project, template, fmt))
    landing = Landing(settings.landing_dir)

    with _client(settings) as client, _progress(as_json) as advance:
        landed = _guarded(
            lambda: run_export(
                client, spec, landing, policy=poll_policy(settings.polling), on_progress=advance
            )
        )

    _print(json.loads(landed.model_dump_json()), as_json)


@export_app.command("start")
def export_start(
    project: Annotated[str, typer.Argument(help="Jira project key, e.g. HR.")],
    template: Annotated[int, typer.Argument(help="Template form id in that project.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="json or xlsx.")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start an export and print its id; follow it with `proforma export status ID`.

    With the embedded sandbox the export lives only as long as this command, so use
    `proforma export run` there, or start `proforma sandbox` and point the configuration at it.
    """
    settings = _settings(config)
    spec = export_spec(_export_settings(settings, project, template, fmt))
    with _client(settings) as client:
        status = _guarded(lambda: client.start_export(spec.request()))
    _print(status.model_dump(by_alias=True, exclude_none=True), as_json)


@export_app.command("status")
def export_status(
    export_id: Annotated[str, typer.Argument(help="The id `export start` printed.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print an export's progress, and its download URL once complete."""
    settings = _settings(config)
    with _client(settings) as client:
        status = _guarded(lambda: client.export_status(export_id))
    _print(status.model_dump(by_alias=True, exclude_none=True), as_json)


@export_app.command("download")
def export_download(
    export_id: Annotated[str, typer.Argument(help="A completed export's id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download a completed export to a file. The server deletes it after this: once only."""
    settings = _settings(config)
    with _client(settings) as client:
        status = _guarded(lambda: client.export_status(export_id))
        if not status.complete or not status.download_url:
            raise _fail(f"export {export_id} is not complete yet ({status.progress}% done)")
        if status.failed:
            raise _fail(f"export {export_id} failed: {status.message}")
        with output.open("wb") as sink:
            size = _guarded(lambda: client.download_export(status, sink))
    _print({"export_id": export_id, "path": str(output), "bytes": size}, as_json)


@config_app.command("check")
def config_check(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Validate the configuration file and print what it would load."""
    settings = _settings(config)
    _print(
        {
            "jira": settings.jira.base_url,
            "projects": settings.projects,
            "exports": [
                f"{e.project}/{e.template} as {e.format} -> {e.table_name}"
                for e in settings.exports
            ],
            "landing": str(settings.landing_dir),
            "lake": str(settings.lake_dir),
            "warehouse": settings.warehouse_url,
            "schedule": f"{settings.schedule.cron} ({settings.schedule.timezone})",
        },
        as_json,
    )


@app.command("sandbox")
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    context_path: Annotated[str, typer.Option(help="Jira context path, e.g. /jira.")] = "/jira",
    seed: Annotated[int, typer.Option(help="Seed of the generated data.")] = 42,
    issues: Annotated[int, typer.Option(help="Generated issues per project.")] = 40,
    replay: Annotated[
        Path | None,
        typer.Option(help="Folder of *.responses.json/.xlsx export files to serve as well."),
    ] = None,
    export_seconds: Annotated[float, typer.Option(help="How long an export takes.")] = 2.0,
) -> None:
    """Serve a ProForma-compatible API with generated (and replayed) data until Ctrl-C.

    Users: admin/admin (may export), agent/agent (may not), bearer token sandbox-admin-token.
    Point a configuration at it with `jira.base_url: http://127.0.0.1:8080/jira`.
    """
    from proforma_io.sandbox import SandboxData, serve

    data = SandboxData.generated(seed=seed, issues_per_project=issues)
    if replay is not None:
        data = data.merge(_guarded(lambda: SandboxData.from_folder(replay)))
    err.print(f"Serving the ProForma sandbox at http://{host}:{port}{context_path} (Ctrl-C stops).")
    serve(host, port, context_path, data, export_seconds)


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


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
