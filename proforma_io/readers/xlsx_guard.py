"""Refusal of workbooks whose XML parts declare a DTD, before any parser sees them.

Declarations allow entity expansion ("billion laughs") and external entities. The check reads
only each part's prolog, the text before its root element, so it costs little on large sheets.
"""

from __future__ import annotations

import codecs
import zipfile
from pathlib import Path
from typing import IO

from proforma_io.errors import ExportFileError

PROLOG_LIMIT = 1 << 20
_CHUNK = 1 << 16


def refuse_xml_declarations(path: Path) -> None:
    """Raise `ExportFileError` naming the part when any XML part of the workbook has a DTD."""
    # Limitation: decompressed part sizes are not capped, so a crafted archive whose shared
    # strings inflate to gigabytes is only stopped by the machine's memory.
    try:
        with zipfile.ZipFile(path) as archive:
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
