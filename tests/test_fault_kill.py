"""A load killed with SIGKILL half-way: the lake and the warehouse keep the previous data, and
the next load gives the same tables as a clean run.

Each load runs in a real subprocess that pauses at the worst moment (Parquet: between two
partition swaps; SQL: after the project's rows were deleted, before the commit), says so
through a file, and is killed there by the test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
from _frames import HR_WIDE, hr_document, hr_form, hr_tables

from proforma_io.schema import CORE_TABLES
from proforma_io.writers.lake_swap import JOURNAL_SUFFIX
from proforma_io.writers.parquet import STAGING_DIR, read_project, write_project
from proforma_io.writers.warehouse import LOAD_LOG, Warehouse

TESTS = Path(__file__).parent
PAUSE_SECONDS = 120
SIGNAL_WAIT_SECONDS = 60

# Runs one load of the edited HR document and stops where the test wants to kill it. The
# pause is put into the standard library (a rename) or SQLAlchemy (an event), not our code.
LOAD_SCRIPT = """
import json, pathlib, sys, time
import sqlalchemy as sa
from _frames import hr_tables
from proforma_io.writers.parquet import write_project
from proforma_io.writers.warehouse import Warehouse

mode, target, document, folder, signal_file = sys.argv[1:6]

def pause():
    pathlib.Path(signal_file).touch()
    time.sleep(PAUSE_SECONDS)

tables = hr_tables(json.loads(pathlib.Path(document).read_text()), pathlib.Path(folder), "2")
if mode == "lake":
    original = pathlib.Path.rename
    renames = []
    def rename(self, destination):
        result = original(self, destination)
        renames.append(destination)
        if len(renames) == 3:  # one table swapped, the next one's old partition moved aside
            pause()
        return result
    pathlib.Path.rename = rename
    write_project(pathlib.Path(target), tables)
else:
    @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
    def deleted(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM ANSWERS"):
            pause()
    warehouse = Warehouse(target)
    warehouse.replace_project(tables)
""".replace("PAUSE_SECONDS", str(PAUSE_SECONDS))


def edited_document() -> dict[str, Any]:
    """The HR sample with one response fewer and one answer changed."""
    document = hr_document()
    document["responses"].pop()
    hr_form(document, "HR-101", 1)["state"]["answers"]["5"] = {"text": "Edited after the kill"}
    return document


def kill_mid_load(tmp_path: Path, mode: str, target: str, document: dict[str, Any]) -> None:
    """Run the load in a subprocess, wait until it pauses, and SIGKILL it there."""
    document_path = tmp_path / "edited.json"
    document_path.write_text(json.dumps(document), encoding="utf-8")
    script = tmp_path / "load.py"
    script.write_text(LOAD_SCRIPT, encoding="utf-8")
    signal_file = tmp_path / f"paused-{mode}"
    folder = tmp_path / "subprocess"
    folder.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}

    process = subprocess.Popen(
        [sys.executable, str(script), mode, target, str(document_path), str(folder), signal_file],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        waited_until = time.monotonic() + SIGNAL_WAIT_SECONDS
        while not os.path.exists(signal_file):
            if process.poll() is not None:
                _, errors = process.communicate()
                pytest.fail(f"the load ended before its pause: {errors.decode()[-2000:]}")
            assert time.monotonic() < waited_until, "the load never reached its pause"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL


def lake_frames(lake: Path) -> dict[str, pd.DataFrame]:
    tables = read_project(lake, "HR")
    return {**tables.core, **tables.wide, "export_ids": pd.DataFrame(tables.export_ids)}


def assert_same_frames(left: dict[str, pd.DataFrame], right: dict[str, pd.DataFrame]) -> None:
    assert list(left) == list(right)
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], obj=name)


def data_files(lake: Path) -> dict[str, bytes]:
    """Every Parquet file under the lake's table folders, with its bytes."""
    return {
        str(path.relative_to(lake)): path.read_bytes()
        for path in sorted(lake.rglob("*.parquet"))
        if STAGING_DIR not in path.parts
    }


def test_lake_write_killed_between_two_swaps_is_rolled_back_and_the_next_write_converges(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    write_project(lake, hr_tables(hr_document(), tmp_path, "1"))
    previous, previous_files = lake_frames(lake), data_files(lake)

    kill_mid_load(tmp_path, "lake", str(lake), edited_document())

    assert (lake / STAGING_DIR / f"HR{JOURNAL_SUFFIX}").exists()
    assert data_files(lake) != previous_files  # on disk, the kill left the swap half done
    assert_same_frames(lake_frames(lake), previous)
    assert data_files(lake) == previous_files
    assert not (lake / STAGING_DIR / f"HR{JOURNAL_SUFFIX}").exists()
    assert [p.name for p in (lake / STAGING_DIR).iterdir()] == []

    write_project(lake, hr_tables(edited_document(), tmp_path, "2"))
    clean = tmp_path / "clean"
    write_project(clean, hr_tables(hr_document(), tmp_path, "1"))
    write_project(clean, hr_tables(edited_document(), tmp_path, "2"))

    assert_same_frames(lake_frames(lake), lake_frames(clean))
    assert data_files(lake) == data_files(clean)
    assert len(lake_frames(lake)["responses"]) == 3


def test_next_write_after_a_killed_one_rolls_it_back_first(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    write_project(lake, hr_tables(hr_document(), tmp_path, "1"))
    kill_mid_load(tmp_path, "lake", str(lake), edited_document())

    write_project(lake, hr_tables(hr_document(), tmp_path, "3"))

    frames = lake_frames(lake)
    assert frames["export_ids"][0].tolist() == ["responses-json-HR-3-3"]
    assert len(frames["responses"]) == 4
    assert set(frames["answers"]["export_id"]) == {"responses-json-HR-3-3"}
    assert not (lake / STAGING_DIR / f"HR{JOURNAL_SUFFIX}").exists()


def warehouse_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The HR rows of every core table and the wide table, sorted, and the load log's outcomes."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = {
                name: sorted(tuple(map(str, row)) for row in conn.execute(select_all(name)))
                for name in [*CORE_TABLES, HR_WIDE]
            }
            rows[LOAD_LOG] = sorted(
                tuple(row)
                for row in conn.execute(sa.text(f"SELECT project_key, outcome FROM {LOAD_LOG}"))
            )
    finally:
        engine.dispose()
    return rows


def select_all(table: str) -> sa.TextClause:
    return sa.text(f"SELECT * FROM {table}")


def reset(url: str) -> None:
    """An empty database again: the SQLite file removed, or PostgreSQL's schema re-created."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database or "").unlink()
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def load(url: str, tables: Any) -> None:
    warehouse = Warehouse(url)
    try:
        warehouse.ensure_schema()
        warehouse.replace_project(tables)
    finally:
        warehouse.dispose()


def test_warehouse_load_killed_after_deleting_keeps_the_previous_rows_and_converges(
    tmp_path: Path, database_url: str
) -> None:
    load(database_url, hr_tables(hr_document(), tmp_path, "1"))
    previous = warehouse_rows(database_url)

    kill_mid_load(tmp_path, "sql", database_url, edited_document())

    assert warehouse_rows(database_url) == previous
    assert previous[LOAD_LOG] == [("HR", "succeeded")]

    load(database_url, hr_tables(edited_document(), tmp_path, "2"))
    converged = warehouse_rows(database_url)
    reset(database_url)
    load(database_url, hr_tables(hr_document(), tmp_path, "1"))
    load(database_url, hr_tables(edited_document(), tmp_path, "2"))

    assert converged == warehouse_rows(database_url)
    assert len(converged["responses"]) == 3
    assert converged["responses"] != previous["responses"]
