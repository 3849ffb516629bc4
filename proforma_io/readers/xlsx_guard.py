"""Refusal of workbooks whose XML parts declare a DTD, or that unpack to too much, before any
parser sees them.

Declarations allow entity expansion ("billion laughs") and external entities. The check reads
only each part's prolog, the text before its root element, so it costs little on large sheets.
The unpacked size is what the archive's directory declares for each part.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path
from typing import IO

from proforma_io.errors import ExportFileError

PROLOG_LIMIT = 1 << 20
# A sheet of 100,000 rows by 30 columns unpacks to about 300 MB.
MAX_UNPACKED_BYTES = 1 << 30
_CHUNK = 1 << 16


def refuse_xml_declarations(path: Path, *, max_unpacked: int = MAX_UNPACKED_BYTES) -> None:
    """Raise `ExportFileError` naming the part when any XML part of the workbook has a DTD, or
    when its parts declare more than `max_unpacked` bytes together (a zip bomb)."""
    # Limitation: the sizes checked are those the archive declares; a crafted archive that
    # understates them is caught only when a part is unpacked past its declared size.
    try:
        with zipfile.ZipFile(path) as archive:
            _refuse_oversized(path, archive.infolist(), max_unpacked)
            for info in archive.infolist():
                with archive.open(info) as part:
                    if declares_dtd(part):
                        raise ExportFileError(
                            path, "refused: the XML part declares a DTD", where=info.filename
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise ExportFileError(path, f"expected an XLSX workbook (a zip archive): {exc}") from exc
    except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise ExportFileError(path, f"cannot read the workbook: {exc}") from exc


def _refuse_oversized(path: Path, parts: list[zipfile.ZipInfo], max_unpacked: int) -> None:
    total = sum(info.file_size for info in parts)
    if total <= max_unpacked:
        return
    largest = max(parts, key=lambda info: info.file_size)
    raise ExportFileError(
        path,
        f"refused: the workbook unpacks to {total:,} bytes, more than the {max_unpacked:,} "
        f"allowed ({largest.file_size:,} in this part alone)",
        where=largest.filename,
    )


def declares_dtd(part: IO[bytes]) -> bool:
    """Whether an XML part has a DTD or other markup declaration before its root element."""
    raw = b""
    while len(raw) < PROLOG_LIMIT:
        chunk = part.read(_CHUNK)
        raw += chunk
        verdict = _prolog_verdict(_decode(raw))
        if verdict is not None:
            return verdict
        if not chunk:
            return False
    return True


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif raw.startswith(b"<\x00"):
        encoding = "utf-16-le"
    elif raw.startswith(b"\x00<"):
        encoding = "utf-16-be"
    else:
        encoding = "utf-8-sig"
    return codecs.decode(raw, encoding, errors="ignore")


def _prolog_verdict(text: str) -> bool | None:
    """True if a declaration precedes the root element, False if none does, None if unsure yet."""
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if len(text) - i < 9:
            return None
        if text.startswith("<?", i):
            opening, closing = "<?", "?>"
        elif text.startswith("<!--", i):
            opening, closing = "<!--", "-->"
        else:
            return text.startswith("<!", i)
        end = text.find(closing, i + len(opening))
        if end < 0:
            return None
        i = end + len(closing)
