"""The landing directory: atomic files, manifests, safe names and verification."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest

from proforma_io.errors import LandingError
from proforma_io.landing import (
    CompletedExport,
    InFlightExport,
    LandedExport,
    Landing,
    safe_file_name,
)

CONTENT = b'{"responses": []}\n' * 1000


def completed(
    export_id: str = "responses-json-HR-3-1700000000", template_id: int = 3
) -> CompletedExport:
    return CompletedExport(
        project_key="HR",
        template_id=template_id,
        format="json",
        export_type="responses-json",
        export_id=export_id,
        fields=["summary", "priority"],
        jql="status = Done",
        started_at=datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
        completed_at=datetime(2026, 5, 1, 8, 0, 3, tzinfo=UTC),
        wait_seconds=3.2,
        polls=4,
    )


def writer(content: bytes, chunk: int = 1000):
    def write(dest: BinaryIO) -> int:
        for start in range(0, len(content), chunk):
            dest.write(content[start : start + chunk])
        return len(content)

    return write


def entries(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_received_file_lands_whole_with_sha256_size_and_manifest(tmp_path: Path) -> None:
    landing = Landing(tmp_path)

    landed = landing.receive(completed(), "ProForma-HR-form-3.json", writer(CONTENT))

    folder = tmp_path / "HR" / "3" / "responses-json-HR-3-1700000000"
    assert landed.path == folder / "ProForma-HR-form-3.json"
    assert landed.path.read_bytes() == CONTENT
    assert landed.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert landed.size_bytes == len(CONTENT)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["export_id"] == "responses-json-HR-3-1700000000"
    assert manifest["export_type"] == "responses-json"
    assert manifest["sha256"] == landed.sha256
    assert manifest["size_bytes"] == len(CONTENT)
    assert manifest["fields"] == ["summary", "priority"]
    assert manifest["jql"] == "status = Done"
    assert manifest["path"] == str(landed.path)
    assert manifest["polls"] == 4
    assert (tmp_path / "HR" / "3" / "latest.json").read_text() == (
        folder / "manifest.json"
    ).read_text()
    assert entries(tmp_path) == [
        "HR",
        "HR/3",
        "HR/3/latest.json",
        "HR/3/responses-json-HR-3-1700000000",
        "HR/3/responses-json-HR-3-1700000000/ProForma-HR-form-3.json",
        "HR/3/responses-json-HR-3-1700000000/manifest.json",
    ]


def test_latest_reads_back_the_newest_landed_export(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landing.receive(completed("responses-json-HR-3-1"), "old.json", writer(b"old"))
    newest = landing.receive(completed("responses-json-HR-3-2"), "new.json", writer(CONTENT))

    latest = landing.latest("HR", 3)

    assert latest == newest
    assert latest.path.read_bytes() == CONTENT
    assert isinstance(latest.landed_at, datetime)
    assert latest.landed_at.tzinfo is not None


@pytest.mark.parametrize(
    ("server_name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("a/b\\c", "c"),
        ("..", "responses-json-HR-3-1700000000.json"),
        ("", "responses-json-HR-3-1700000000.json"),
        (None, "responses-json-HR-3-1700000000.json"),
        ("manifest.json", "responses-json-HR-3-1700000000.json"),
        (".hidden.json", "hidden.json"),
        ("re:port\x00?.json", "re_port__.json"),
        ("ProForma-山田.json", "ProForma-山田.json"),
    ],
)
def test_server_file_name_is_reduced_to_one_safe_segment(
    tmp_path: Path, server_name: str | None, expected: str
) -> None:
    landing = Landing(tmp_path)

    landed = landing.receive(completed(), server_name, writer(CONTENT))

    assert landed.file_name == expected
    assert landed.path.parent == tmp_path / "HR" / "3" / "responses-json-HR-3-1700000000"
    assert landed.path.resolve().is_relative_to(tmp_path.resolve())
    assert not (tmp_path.parent / "etc").exists()


def test_file_name_fallback_uses_export_id_and_format_extension() -> None:
    assert safe_file_name(None, "responses-xlsx-OPS-7-9", "xlsx") == "responses-xlsx-OPS-7-9.xlsx"


def test_export_id_that_would_escape_the_root_is_refused(tmp_path: Path) -> None:
    landing = Landing(tmp_path)

    with pytest.raises(LandingError, match=r"export id '\.\./\.\./x'"):
        landing.receive(completed(export_id="../../x"), "a.json", writer(CONTENT))

    assert entries(tmp_path) == []


def test_failed_write_removes_the_temporary_file_and_keeps_the_previous_latest(
    tmp_path: Path,
) -> None:
    landing = Landing(tmp_path)
    first = landing.receive(completed("responses-json-HR-3-1"), "a.json", writer(CONTENT))

    def broken(dest: BinaryIO) -> int:
        dest.write(b"half a file")
        raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        landing.receive(completed("responses-json-HR-3-2"), "b.json", broken)

    assert entries(tmp_path / "HR" / "3" / "responses-json-HR-3-2") == []
    assert landing.latest("HR", 3) == first


def test_writer_reporting_a_different_byte_count_is_refused(tmp_path: Path) -> None:
    landing = Landing(tmp_path)

    def lying(dest: BinaryIO) -> int:
        dest.write(b"12345")
        return 9

    with pytest.raises(LandingError, match="reported 9 bytes but 5 reached"):
        landing.receive(completed(), "a.json", lying)

    assert entries(tmp_path / "HR" / "3" / "responses-json-HR-3-1700000000") == []


def test_latest_without_any_landed_export_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match=r"no export of HR template 3 has landed.*latest\.json"):
        Landing(tmp_path).latest("HR", 3)


def test_latest_refuses_a_file_whose_size_changed(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landed = landing.receive(completed(), "a.json", writer(CONTENT))
    landed.path.write_bytes(CONTENT + b"x")

    with pytest.raises(LandingError) as caught:
        landing.latest("HR", 3)

    message = str(caught.value)
    assert str(landed.path) in message
    assert f"{len(CONTENT) + 1} bytes, the manifest records {len(CONTENT)}" in message


def test_latest_refuses_a_file_whose_content_changed(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landed = landing.receive(completed(), "a.json", writer(CONTENT))
    landed.path.write_bytes(CONTENT.replace(b"[", b"("))

    with pytest.raises(LandingError, match=f"has sha256 .* records {landed.sha256}"):
        landing.latest("HR", 3)


def test_latest_refuses_a_missing_file(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landed = landing.receive(completed(), "a.json", writer(CONTENT))
    landed.path.unlink()

    with pytest.raises(LandingError, match=f"{landed.path} is missing"):
        landing.latest("HR", 3)


def test_latest_refuses_an_unreadable_manifest(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landing.receive(completed(), "a.json", writer(CONTENT))
    (tmp_path / "HR" / "3" / "latest.json").write_text("{not json")

    with pytest.raises(LandingError, match="latest.json is not a readable export manifest"):
        landing.latest("HR", 3)


def test_latest_refuses_a_manifest_of_another_template(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landing.receive(completed(template_id=11), "a.json", writer(CONTENT))
    (tmp_path / "HR" / "3").mkdir()
    (tmp_path / "HR" / "11" / "latest.json").rename(tmp_path / "HR" / "3" / "latest.json")

    with pytest.raises(LandingError, match="records HR template 11, expected HR template 3"):
        landing.latest("HR", 3)


def test_moved_landing_directory_still_finds_its_files(tmp_path: Path) -> None:
    Landing(tmp_path / "before").receive(completed(), "a.json", writer(CONTENT))
    (tmp_path / "before").rename(tmp_path / "after")

    latest = Landing(tmp_path / "after").latest("HR", 3)

    assert latest.path == tmp_path / "after" / "HR" / "3" / latest.export_id / "a.json"
    assert latest.path.read_bytes() == CONTENT


def test_all_lists_the_latest_export_of_each_template_in_id_order(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landing.receive(completed("responses-json-HR-3-1", template_id=11), "a.json", writer(b"a"))
    landing.receive(completed("responses-json-HR-3-2", template_id=3), "b.json", writer(b"b"))
    landing.receive(completed("responses-json-HR-3-3", template_id=11), "c.json", writer(b"c"))

    landed = landing.all("HR")

    assert [(item.template_id, item.export_id) for item in landed] == [
        (3, "responses-json-HR-3-2"),
        (11, "responses-json-HR-3-3"),
    ]
    assert landing.all("OPS") == []


def test_manifest_round_trips_as_json(tmp_path: Path) -> None:
    landed = Landing(tmp_path).receive(completed(), "a.json", writer(CONTENT))

    again = LandedExport.model_validate_json(landed.model_dump_json())

    assert again == landed


def flight(
    export_id: str = "responses-json-HR-3-1700000000", template_id: int = 3
) -> InFlightExport:
    return InFlightExport(
        project_key="HR",
        template_id=template_id,
        format="json",
        export_type="responses-json",
        export_id=export_id,
        fields=["summary"],
        started_at=datetime(2026, 5, 1, 8, 0, tzinfo=UTC),
    )


def test_in_flight_record_reads_back_until_that_export_lands(tmp_path: Path) -> None:
    landing = Landing(tmp_path)

    path = landing.record_in_flight(flight())
    recorded = landing.in_flight("HR", 3)
    landing.receive(completed(), "ProForma-HR-form-3.json", writer(CONTENT))

    assert path == tmp_path / "HR" / "3" / "in_flight.json"
    assert recorded == flight()
    assert landing.in_flight("HR", 3) is None
    assert not path.exists()


def test_landing_another_export_keeps_the_in_flight_record(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    landing.record_in_flight(flight("responses-json-HR-3-1700000099"))

    landing.receive(completed(), "ProForma-HR-form-3.json", writer(CONTENT))

    recorded = landing.in_flight("HR", 3)
    assert recorded is not None and recorded.export_id == "responses-json-HR-3-1700000099"


def test_unreadable_in_flight_record_is_ignored_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    landing = Landing(tmp_path)
    path = landing.record_in_flight(flight())
    path.write_text("{not json")

    assert landing.in_flight("HR", 3) is None
    assert (
        caplog.records[-1]
        .getMessage()
        .startswith(f"Ignoring the unreadable in-flight record {path}: ")
    )


def test_in_flight_record_of_another_template_is_ignored(tmp_path: Path) -> None:
    landing = Landing(tmp_path)
    other = landing.record_in_flight(flight(template_id=4))
    target = landing.template_dir("HR", 3) / "in_flight.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(other.read_bytes())

    assert landing.in_flight("HR", 3) is None
    assert landing.in_flight("HR", 4) == flight(template_id=4)


def test_in_flight_export_id_that_would_escape_the_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LandingError, match="export id '../x' cannot name a landing folder"):
        Landing(tmp_path).record_in_flight(flight("../x"))
