"""The per-size benchmark: download, read and normalise, Parquet, SQLite and PostgreSQL loads,
and the baselines on the same landed files, each stage in fresh processes, median of repeats."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.databases import Database, fresh_postgres, fresh_sqlite
from benchmarks.dataset import FIELDS, TEMPLATE_ID, project_keys
from benchmarks.measure import Sample, Timing, repeat, run_child
from benchmarks.serve import sandbox_process

PROJECT = project_keys(1)[0]


@dataclass(frozen=True)
class SuiteOptions:
    """What to run: sizes, formats, repeats and which optional comparisons."""

    sizes: tuple[int, ...]
    formats: tuple[str, ...] = ("json", "xlsx")
    repeats: int = 3
    baseline_repeats: int | None = None
    postgres: bool = True
    dlt: bool = True
    dlt_max: int | None = None
    postgres_admin: str = ""
    tools: tuple[str, ...] | None = None


class Suite:
    """Runs every case of one size in a work folder and collects the samples."""

    def __init__(
        self,
        options: SuiteOptions,
        work: Path,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> None:
        self.options = options
        self.work = work
        self.on_sample = on_sample
        self.samples: list[Sample] = []
        self.failures: list[dict[str, Any]] = []

    def run(self) -> list[Sample]:
        for size in self.options.sizes:
            print(f"== {size} responses", flush=True)
            folder = self.work / f"size-{size}"
            shutil.rmtree(folder, ignore_errors=True)
            with sandbox_process(size, 1, 0.0) as base_url:
                files = {fmt: self._download(size, fmt, base_url, folder) for fmt in self._fmts}
            if "json" in files:
                self._json_cases(size, files["json"], folder)
            if "xlsx" in files:
                self._xlsx_cases(size, files["xlsx"], folder)
        return self.samples

    @property
    def _fmts(self) -> tuple[str, ...]:
        return self.options.formats

    def _download(self, size: int, fmt: str, base_url: str, folder: Path) -> str:
        args = {
            "base_url": base_url,
            "project": PROJECT,
            "template": TEMPLATE_ID,
            "format": fmt,
            "fields": list(FIELDS),
            "landing": str(folder / "landing"),
        }
        sample = self._repeat(fmt, "download", "ours", size, lambda _: run_child("download", args))
        if sample is None:
            raise RuntimeError(f"the {fmt} export of {size} responses could not be downloaded")
        return str(sample.extra["path"])

    def _json_cases(self, size: int, path: str, folder: Path) -> None:
        spec = self._spec(path, "json")
        lake = str(folder / "lake")
        self._repeat("json", "read+normalise", "ours", size, lambda _: run_child("normalise", spec))
        self._repeat(
            "json",
            "parquet write",
            "ours",
            size,
            lambda _: run_child("parquet", spec | {"lake": lake}),
        )
        for target, fresh in self._targets(folder):
            self._repeat(
                "json",
                f"{target} load",
                "ours",
                size,
                self._in(
                    fresh, lambda db: run_child("warehouse", spec | {"lake": lake, "url": db.url})
                ),
            )
            self._repeat(
                "json",
                f"file->{target}",
                "pandas",
                size,
                self._in(fresh, lambda db: run_child("pandas_json", {"path": path, "url": db.url})),
            )
            if self._dlt_wanted(size):
                self._repeat(
                    "json",
                    f"file->{target}",
                    "dlt",
                    size,
                    self._in(fresh, lambda db: self._dlt(path, db, folder)),
                )

    def _xlsx_cases(self, size: int, path: str, folder: Path) -> None:
        spec = self._spec(path, "xlsx")
        self._repeat("xlsx", "read", "ours", size, lambda _: run_child("read_xlsx", spec))
        self._repeat("xlsx", "read", "openpyxl", size, lambda _: run_child("openpyxl_cells", spec))
        self._repeat("xlsx", "read", "calamine", size, lambda _: run_child("calamine_cells", spec))
        self._repeat("xlsx", "read+normalise", "ours", size, lambda _: run_child("normalise", spec))
        sqlite = self._in(
            lambda: fresh_sqlite(folder / "db"),
            lambda db: run_child("pandas_xlsx", {"path": path, "url": db.url}),
        )
        self._repeat("xlsx", "file->sqlite", "pandas", size, sqlite)

    def _dlt(self, path: str, db: Database, folder: Path) -> Timing:
        pipelines = folder / "dlt"
        shutil.rmtree(pipelines, ignore_errors=True)
        args = {"path": path, "url": db.dlt_url, "pipelines_dir": str(pipelines)}
        return run_child("dlt_json", args)

    def _dlt_wanted(self, size: int) -> bool:
        limit = self.options.dlt_max
        return self.options.dlt and (limit is None or size <= limit)

    def _targets(
        self, folder: Path
    ) -> Iterator[tuple[str, Callable[[], AbstractContextManager[Database]]]]:
        yield "sqlite", lambda: fresh_sqlite(folder / "db")
        if self.options.postgres:
            yield "postgresql", lambda: fresh_postgres(self.options.postgres_admin)

    @staticmethod
    def _in(
        fresh: Callable[[], AbstractContextManager[Database]], run: Callable[[Database], Timing]
    ) -> Callable[[int], Timing]:
        def attempt(_: int) -> Timing:
            with fresh() as db:
                return run(db)

        return attempt

    def _repeat(
        self, case: str, stage: str, tool: str, size: int, run: Callable[[int], Timing]
    ) -> Sample | None:
        """Measure one figure; a failed stage is recorded with its error and skipped."""
        wanted = self.options.tools
        if wanted is not None and tool not in wanted and stage != "download":
            return None
        times = self.options.repeats
        if tool != "ours" and self.options.baseline_repeats is not None:
            times = self.options.baseline_repeats
        try:
            sample = repeat(case, stage, tool, size, times, run)
        except RuntimeError as exc:
            print(f"  {case:<10} {stage:<22} {tool:<9} FAILED: {str(exc)[-300:]}", flush=True)
            failure = {"case": case, "stage": stage, "tool": tool, "responses": size}
            self.failures.append(failure | {"error": str(exc)[-2000:]})
            return None
        self.samples.append(sample)
        if self.on_sample is not None:
            self.on_sample(sample)
        return sample

    @staticmethod
    def _spec(path: str, fmt: str) -> dict[str, Any]:
        return {
            "path": path,
            "project": PROJECT,
            "template": TEMPLATE_ID,
            "format": fmt,
            "fields": list(FIELDS),
            "file_bytes": Path(path).stat().st_size,
        }
