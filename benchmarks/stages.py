"""The library's own stages, each run inside a child process by `benchmarks.child`.

download: start an export on a running sandbox, wait for it, then time the streamed download
into the landing directory. normalise: read a landed file into canonical frames. parquet: write
those frames to the lake. sqlite / postgresql: load the project from the lake into a warehouse,
as the pipeline's `warehouse_tables` asset does. read_xlsx: the XLSX reader alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.measure import Stopwatch, Timing, timed


def download(args: dict[str, Any]) -> Timing:
    from proforma_io.auth import BasicCredentials
    from proforma_io.client import ProformaClient
    from proforma_io.export_job import ExportSpec, PollPolicy, run_export
    from proforma_io.landing import Landing
    from proforma_io.models import ExportStatus

    spec = ExportSpec(
        project_key=args["project"],
        template_id=args["template"],
        format=args["format"],
        fields=tuple(args["fields"]),
    )
    policy = PollPolicy(initial_interval=0.05, max_interval=0.5, multiplier=1.5)
    watch = Stopwatch()

    def on_progress(status: ExportStatus) -> None:
        # The clock starts once the server says the file is ready: what follows is the download.
        if status.complete and not watch.running:
            watch.start()

    credentials = BasicCredentials("admin", "admin")
    with ProformaClient(args["base_url"], credentials=credentials, timeout=600) as client:
        landed = run_export(
            client, spec, Landing(Path(args["landing"])), policy=policy, on_progress=on_progress
        )
    timing = watch.stop()
    timing.extra = {"path": str(landed.path), "bytes": landed.size_bytes}
    return timing


def normalise(args: dict[str, Any]) -> Timing:
    from proforma_io.normalise import normalise_export

    with timed() as timing:
        export = _normalise(args, normalise_export)
    timing.extra = {"rows": export.row_counts()}
    return timing


def parquet(args: dict[str, Any]) -> Timing:
    from proforma_io.load import write_lake
    from proforma_io.normalise import normalise_export
    from proforma_io.tables import ProjectTables

    tables = ProjectTables.combine(args["project"], [_normalise(args, normalise_export)])
    with timed() as timing:
        written = write_lake(Path(args["lake"]), tables)
    timing.extra = {"rows": written.rows}
    return timing


def warehouse(args: dict[str, Any]) -> Timing:
    from proforma_io.load import load_warehouse

    with timed() as timing:
        load = load_warehouse(args["url"], Path(args["lake"]), args["project"])
    timing.extra = {"rows": load.rows}
    return timing


def read_xlsx(args: dict[str, Any]) -> Timing:
    from proforma_io.readers import read_xlsx_export

    with timed() as timing:
        responses = read_xlsx_export(Path(args["path"]), fields=args["fields"])
    timing.extra = {"responses": len(responses)}
    return timing


def _normalise(args: dict[str, Any], normalise_export: Any) -> Any:
    return normalise_export(
        Path(args["path"]),
        project_key=args["project"],
        template_id=args["template"],
        export_id=args.get("export_id", "bench"),
        fmt=args["format"],
        fields=args["fields"],
    )
