"""What a user would write instead, each run inside a child process by `benchmarks.child`.

pandas_json: `json.load`, `pd.json_normalize` over the responses, the design columns dropped,
nested values kept as JSON text, `DataFrame.to_sql` into one table. pandas_xlsx:
`pd.read_excel(engine="openpyxl")` and `to_sql`. openpyxl_cells: iterating every cell of the
sheet with openpyxl, the reading the XLSX reader used before. dlt_json: a dlt pipeline whose
resource yields the export's responses, loaded with dlt's defaults into SQLite or PostgreSQL.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from benchmarks.measure import Timing, timed

TABLE = "responses_flat"
CHUNK_ROWS = 10_000


def pandas_json(args: dict[str, Any]) -> Timing:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(args["url"])
    with timed() as timing:
        with open(args["path"], encoding="utf-8") as handle:
            document = json.load(handle)
        frame = pd.json_normalize(document["responses"])
        frame = frame.drop(columns=[c for c in frame.columns if c.startswith("form.design.")])
        for column in frame.select_dtypes(include="object").columns:
            frame[column] = frame[column].map(_json_text)
        frame.to_sql(TABLE, engine, if_exists="replace", index=False, chunksize=CHUNK_ROWS)
    engine.dispose()
    timing.extra = {"rows": {TABLE: len(frame)}, "columns": len(frame.columns)}
    return timing


def pandas_xlsx(args: dict[str, Any]) -> Timing:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(args["url"])
    with timed() as timing:
        frame = pd.read_excel(args["path"], engine="openpyxl")
        frame.to_sql(TABLE, engine, if_exists="replace", index=False, chunksize=CHUNK_ROWS)
    engine.dispose()
    timing.extra = {"rows": {TABLE: len(frame)}, "columns": len(frame.columns)}
    return timing


def openpyxl_cells(args: dict[str, Any]) -> Timing:
    import openpyxl

    with timed() as timing:
        workbook = openpyxl.load_workbook(args["path"], read_only=True, data_only=True)
        rows = list(workbook.worksheets[0].iter_rows(values_only=True))
        workbook.close()
    timing.extra = {"rows": len(rows), "cells": sum(len(row) for row in rows)}
    return timing


def calamine_cells(args: dict[str, Any]) -> Timing:
    from python_calamine import CalamineWorkbook

    with timed() as timing:
        workbook = CalamineWorkbook.from_path(args["path"])
        rows = workbook.get_sheet_by_index(0).to_python(skip_empty_area=False)
        workbook.close()
    timing.extra = {"rows": len(rows), "cells": sum(len(row) for row in rows)}
    return timing


def dlt_json(args: dict[str, Any]) -> Timing:
    import dlt

    path = Path(args["path"])
    destination: Any
    if args["url"].startswith("sqlite"):
        # dlt's 20 parallel load workers make SQLite answer "database is locked" at 100k
        # responses; one worker is what a user meeting that error would set.
        os.environ["LOAD__WORKERS"] = "1"
        destination = dlt.destinations.sqlalchemy(args["url"])
    else:
        destination = dlt.destinations.postgres(args["url"])

    @dlt.resource(name="responses", write_disposition="replace")
    def responses() -> Any:
        with path.open("rb") as handle:
            yield json.load(handle)["responses"]

    pipeline = dlt.pipeline(
        pipeline_name="proforma_bench",
        destination=destination,
        dataset_name="proforma",
        pipelines_dir=args["pipelines_dir"],
    )
    with timed() as timing:
        pipeline.run(responses())
    trace: Any = pipeline.last_trace
    counts = trace.last_normalize_info.row_counts
    timing.extra = {"rows": {k: v for k, v in counts.items() if not k.startswith("_dlt")}}
    return timing


def _json_text(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value
