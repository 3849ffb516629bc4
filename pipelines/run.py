"""Run the daily load job for every configured project, in this process, and say what it did.
`python -m pipelines` (what `make demo` runs). Runs are recorded in the Dagster instance of
`DAGSTER_HOME` when it is set, so `dagster dev` shows them afterwards; otherwise in a temporary one.
"""

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import dagster as dg
import typer
from rich.console import Console
from rich.table import Table

from pipelines.definitions import DAILY_JOB, build_definitions, project_tags
from proforma_io.config import Settings, load_settings
from proforma_io.errors import ProformaError
from proforma_io.landing import Landing
from proforma_io.load import credentials_for
from proforma_io.writers.warehouse import Warehouse

# Dagster's console logger at INFO shows the steps' own sentences, not every engine event.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}

console = Console(width=None if sys.stdout.isatty() else 160)


def main(
    config: Annotated[
        Path | None,
        typer.Option(help="Configuration file (default: PROFORMA_CONFIG or ./proforma.yaml)."),
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="Load only this project; repeatable."),
    ] = None,
) -> None:
    """Export, normalise and load every configured project, then print a summary."""
    try:
        settings = load_settings(config)
        credentials_for(settings.jira)
    except ProformaError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise typer.Exit(2) from None
    projects = project or settings.projects
    unknown = sorted(set(projects) - set(settings.projects))
    if unknown:
        console.print(f"[red]error:[/red] not in the configuration: {', '.join(unknown)}")
        raise typer.Exit(2)

    where = "the embedded sandbox" if settings.jira.is_sandbox else settings.jira.base_url
    console.print(f"Loading {len(projects)} project(s) from {where}: {', '.join(projects)}")
    failed = run_projects(settings, projects)

    print_summary(settings, projects, failed)
    if failed:
        raise typer.Exit(1)


def run_projects(settings: Settings, projects: list[str]) -> list[str]:
    """Execute the job once per project partition; return the projects whose run failed."""
    job = build_definitions(settings).resolve_job_def(DAILY_JOB)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    failed = []
    with instance or dg.DagsterInstance.ephemeral() as active:
        for project in projects:
            started = time.monotonic()
            with console.status(f"Running {DAILY_JOB} for {project}..."):
                result = job.execute_in_process(
                    instance=active,
                    partition_key=project,
                    tags=project_tags(settings, project),
                    run_config=QUIET_LOGS,
                    raise_on_error=False,
                )
            took = time.monotonic() - started
            evaluations = check_evaluations(result)
            if result.success:
                console.print(
                    f"  {project}: run {result.run_id[:8]} succeeded in {took:.1f} s; "
                    + describe_checks(evaluations)
                )
            else:
                failed.append(project)
                console.print(f"  [red]{project}: run {result.run_id[:8]} failed[/red]")
                for event in result.all_events:
                    if event.is_step_failure and event.step_failure_data:
                        reason = failure_reason(event.step_failure_data.error)
                        console.print(f"    {event.step_key}: {reason}", soft_wrap=True)
            for evaluation in evaluations:
                if not evaluation.passed:
                    console.print(f"    check {evaluation.check_name}: {evaluation.description}")
    return failed


def check_evaluations(result: dg.ExecuteInProcessResult) -> list[dg.AssetCheckEvaluation]:
    """The asset check results a run recorded, in order."""
    return [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]


def describe_checks(evaluations: list[dg.AssetCheckEvaluation]) -> str:
    """`6 checks passed`, or how many passed and which warned or failed."""
    passed = sum(evaluation.passed for evaluation in evaluations)
    parts = [f"{passed} checks passed"]
    for severity, verb in (
        (dg.AssetCheckSeverity.WARN, "warned"),
        (dg.AssetCheckSeverity.ERROR, "failed"),
    ):
        names = [e.check_name for e in evaluations if not e.passed and e.severity == severity]
        if names:
            parts.append(f"{len(names)} {verb} ({', '.join(names)})")
    return ", ".join(parts)


def failure_reason(error: Any) -> str:
    """The failure's own error in one line, past Dagster's wrappers; the trace is in the run."""
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause
    own = [e for e in chain if not e.cls_name.startswith("Dagster")] or chain
    lines = own[0].message.strip().splitlines() if own else []
    if not lines:
        return "unknown error"
    kind, _, text = lines[0].partition(": ")
    return text if text and " " not in kind else lines[0]


def print_summary(settings: Settings, projects: list[str], failed: list[str]) -> None:
    """A table of what landed and what was loaded, and where the files are."""
    landing = Landing(settings.landing_dir)
    warehouse = Warehouse(settings.warehouse_url)
    table = Table(title="What the daily load did", title_justify="left")
    for column in ("project", "template", "format", "export id", "bytes"):
        table.add_column(column, no_wrap=True)
    for column in ("responses", "answers", "jira_fields", "wide table"):
        table.add_column(column, justify="right", no_wrap=True)

    for project in projects:
        if project in failed:
            table.add_row(project, "", "", "[red]failed: see the run's log above[/red]")
            continue
        per_template = warehouse.template_counts(project)
        wide_rows = warehouse.project_counts(project)
        for export in settings.exports_for(project):
            landed = landing.latest(project, export.template)
            rows = per_template.get(export.template, {})
            table.add_row(
                project,
                str(export.template),
                export.format,
                landed.export_id,
                f"{landed.size_bytes:,}",
                f"{rows.get('responses', 0):,}",
                f"{rows.get('answers', 0):,}",
                f"{rows.get('jira_fields', 0):,}",
                f"{export.table_name} {wide_rows.get(export.table_name, 0):,}",
            )

    console.print(table)
    console.print(f"Landed files: {settings.landing_dir}")
    console.print(f"Parquet lake: {settings.lake_location}")
    console.print(f"Warehouse:    {warehouse.display_url}")


app = typer.Typer(add_completion=False)
app.command()(main)


def cli() -> None:
    app()


if __name__ == "__main__":
    sys.exit(cli())
