"""A backfill of many projects against a sandbox whose exports take realistic time.

Three ways to run the same projects through the library's steps (proforma_io/load.py):
one by one; concurrently in threads; and concurrently with threads waiting on the exports while
a pool of worker processes, one per core, normalises and loads. Each project's time when run
alone (one by one) gives the slowest single project, the figure the target compares with.
With `alone` set, only that many projects run one by one (the projects are alike), which keeps
long export latencies affordable; the one-by-one wall time is then not comparable.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.databases import fresh_postgres
from benchmarks.dataset import FIELDS, TEMPLATE_ID, project_keys
from benchmarks.serve import sandbox_process
from proforma_io.auth import BasicCredentials
from proforma_io.client import ProformaClient
from proforma_io.config import ExportSettings, PollingSettings
from proforma_io.landing import Landing
from proforma_io.load import export_project, load_warehouse, normalise_project, write_lake
from proforma_io.writers.warehouse import Warehouse

MODES = ("one by one", "threads", "threads+processes")


@dataclass(frozen=True)
class BackfillOptions:
    projects: int = 20
    responses: int = 500
    export_seconds: float = 5.0
    repeats: int = 3
    threads: int = 20
    processes: int = os.cpu_count() or 2
    postgres_admin: str = ""
    alone: int | None = None


@dataclass
class BackfillResult:
    """Median wall seconds per mode and the per-project times of the one-by-one runs."""

    options: BackfillOptions
    walls: dict[str, float] = field(default_factory=dict)
    runs: dict[str, list[float]] = field(default_factory=dict)
    slowest_single: float = 0.0
    single_runs: list[list[float]] = field(default_factory=list)


def run_backfill(options: BackfillOptions, work: Path) -> BackfillResult:
    result = BackfillResult(options)
    keys = project_keys(options.projects)
    print(
        f"== backfill: {options.projects} projects x {options.responses} responses, "
        f"exports take {options.export_seconds:g} s",
        flush=True,
    )
    with sandbox_process(options.responses, options.projects, options.export_seconds) as base:
        for mode in MODES:
            walls = []
            for attempt in range(options.repeats):
                folder = work / "backfill" / f"{mode.replace(' ', '-')}-{attempt}"
                shutil.rmtree(folder, ignore_errors=True)
                with fresh_postgres(options.postgres_admin) as db:
                    Warehouse(db.url).ensure_schema()
                    wall, singles = _run_mode(mode, options, base, keys, folder, db.url)
                walls.append(wall)
                if mode == "one by one":
                    result.single_runs.append(singles)
                print(f"  {mode:<18} {wall:7.2f} s", flush=True)
            result.walls[mode] = statistics.median(walls)
            result.runs[mode] = [round(w, 3) for w in walls]
    result.slowest_single = statistics.median(max(s) for s in result.single_runs)
    return result


def _run_mode(
    mode: str, options: BackfillOptions, base_url: str, keys: list[str], folder: Path, url: str
) -> tuple[float, list[float]]:
    started = time.perf_counter()
    if mode == "one by one":
        alone = keys[: options.alone] if options.alone else keys
        singles = [_project(base_url, key, folder, url, None) for key in alone]
        return time.perf_counter() - started, singles

    workers: Executor | None = None
    if mode == "threads+processes":
        workers = ProcessPoolExecutor(options.processes)
    try:
        with ThreadPoolExecutor(options.threads) as pool:
            times = list(pool.map(lambda key: _project(base_url, key, folder, url, workers), keys))
    finally:
        if workers is not None:
            workers.shutdown()
    return time.perf_counter() - started, times


def _project(base_url: str, key: str, folder: Path, url: str, workers: Executor | None) -> float:
    """Export, normalise and load one project; return its seconds."""
    started = time.perf_counter()
    export = ExportSettings(project=key, template=TEMPLATE_ID, format="json", fields=FIELDS)
    credentials = BasicCredentials("admin", "admin")
    with ProformaClient(base_url, credentials=credentials, timeout=120) as client:
        export_project(client, [export], Landing(folder / "landing"), PollingSettings())
    if workers is None:
        load_project(key, export, folder, url)
    else:
        workers.submit(load_project, key, export, folder, url).result()
    return time.perf_counter() - started


def load_project(key: str, export: ExportSettings, folder: Path, url: str) -> None:
    """Landing -> frames -> Parquet -> warehouse, as the pipeline's assets do."""
    tables = normalise_project(key, [export], Landing(folder / "landing"))
    write_lake(folder / "lake", tables)
    load_warehouse(url, folder / "lake", key)
