"""Entry of a stage's child process: `python -m benchmarks.child STAGE 'JSON ARGS'`."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import baselines, stages
from benchmarks.measure import Timing, report

STAGES: dict[str, Callable[[dict[str, Any]], Timing]] = {
    "download": stages.download,
    "normalise": stages.normalise,
    "parquet": stages.parquet,
    "warehouse": stages.warehouse,
    "read_xlsx": stages.read_xlsx,
    "pandas_json": baselines.pandas_json,
    "pandas_xlsx": baselines.pandas_xlsx,
    "openpyxl_cells": baselines.openpyxl_cells,
    "calamine_cells": baselines.calamine_cells,
    "dlt_json": baselines.dlt_json,
}


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING)
    stage, args = argv[1], json.loads(argv[2])
    report(STAGES[stage](args))


if __name__ == "__main__":
    main(sys.argv)
