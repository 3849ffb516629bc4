"""PDF documents of forms, as `GET /issue/{issueKey}/form/{formId}/pdf` serves them (fpdf2).

The rich document has a coloured title band, a status line and each answer in a shaded box;
the plain one (`plain=true`) is black text only: the title, then each question and its answer.
Text uses DejaVu Sans when the system has it (Debian's fonts-dejavu-core), else Helvetica.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from proforma_io.sandbox.form_text import Line, form_lines
from proforma_io.sandbox.store import Form, Issue

PDF_MEDIA_TYPE = "application/pdf"
FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts"),
)
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf"}
FAMILY = "DejaVu"
CORE_FAMILY = "Helvetica"
BAND = (0, 82, 204)
SHADE = (244, 245, 247)
MUTED = (94, 108, 132)
STATUS_NAMES = {"o": "Open", "s": "Submitted", "l": "Locked"}
VISIBILITY_NAMES = {"i": "Internal", "e": "External"}
NO_ANSWER = "No answer"


def render_pdf(issue: Issue, form: Form, *, plain: bool = False) -> bytes:
    """The form on the issue, with its answers, as a PDF document."""
    document = _Document(issue, form)
    lines = form_lines(form)
    if plain:
        document.plain(lines)
    else:
        document.rich(lines)
    return bytes(document.pdf.output())


class _Document:
    def __init__(self, issue: Issue, form: Form) -> None:
        self.issue = issue
        self.form = form
        self.title = form.name or f"Form {form.id}"
        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_title(f"{issue.key} form {form.id}: {self.title}")
        self.pdf.set_subject(f"ProForma form {form.id} on issue {issue.key}")
        self.pdf.set_creator("ProForma sandbox")
        self.pdf.set_creation_date(_stamp(form.updated))
        self.family, self.styles = _fonts(self.pdf)
        self.pdf.add_page()

    @property
    def summary(self) -> str:
        status = STATUS_NAMES.get(self.form.status, self.form.status)
        visibility = VISIBILITY_NAMES.get(self.form.visibility, self.form.visibility)
        updated = self.form.updated or "never"
        return (
            f"{self.issue.key} · form {self.form.id} · {status} · {visibility} · updated {updated}"
        )

    def rich(self, lines: Iterable[Line]) -> None:
        pdf = self.pdf
        pdf.set_fill_color(*BAND)
        pdf.set_text_color(255, 255, 255)
        self._font("B", 16)
        pdf.cell(0, 14, self._text(self.title), fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_text_color(*MUTED)
        self._font("", 9)
        pdf.cell(0, 8, self._text(self.summary), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)

        for line in lines:
            self._rich_line(line)

    def plain(self, lines: Iterable[Line]) -> None:
        pdf = self.pdf
        self._font("", 11)
        pdf.multi_cell(0, 6, self._text(self.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.multi_cell(0, 6, self._text(self.summary), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(4)

        for line in lines:
            text = line.label if line.display else f"{line.label}: {line.answer or NO_ANSWER}"
            pdf.multi_cell(0, 6, self._text(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)

    def _rich_line(self, line: Line) -> None:
        pdf = self.pdf
        if line.display:
            pdf.set_text_color(0, 0, 0)
            self._font("B" if line.code.startswith("h") else "I", 12 if line.code == "h1" else 10)
            pdf.multi_cell(0, 7, self._text(line.label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
            return

        pdf.set_text_color(*MUTED)
        self._font("B", 9)
        pdf.multi_cell(0, 6, self._text(line.label), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_fill_color(*SHADE)
        if line.answer:
            pdf.set_text_color(0, 0, 0)
            self._font("", 11)
        else:
            self._font("I", 10)
        text = self._text(line.answer or NO_ANSWER)
        pdf.multi_cell(0, 7, text, fill=True, padding=1, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)

    def _font(self, style: str, size: float) -> None:
        self.pdf.set_font(self.family, style if style in self.styles else "", size)

    def _text(self, text: str) -> str:
        """The text with characters the font cannot draw shown as "?"."""
        if self.family != FAMILY:
            return text.replace("·", "-").encode("latin-1", "replace").decode("latin-1")
        font = self.pdf.fonts[FAMILY.lower()]
        drawable = font.cmap if isinstance(font, TTFFont) else {}
        return "".join(c if ord(c) in drawable or c in "\n\t" else "?" for c in text)


def _fonts(pdf: FPDF) -> tuple[str, set[str]]:
    """The font family to write with and the styles it has."""
    # Limitation: DejaVu Sans has no CJK glyphs, so names such as 山田 太郎 show as "?" in the
    # document, as does all text outside Latin-1 on a system without DejaVu.
    for folder in FONT_DIRS:
        if not (folder / FONT_FILES[""]).is_file():
            continue
        styles = {style for style, name in FONT_FILES.items() if (folder / name).is_file()}
        for style in styles:
            pdf.add_font(FAMILY, style, str(folder / FONT_FILES[style]))
        return FAMILY, styles
    return CORE_FAMILY, {"", "B", "I"}


def _stamp(updated: str) -> datetime:
    """The form's `updated` time, so one form state always gives the same document."""
    try:
        return datetime.fromisoformat(updated.replace("Z", "+00:00"))
    except ValueError:
        return datetime(2000, 1, 1, tzinfo=UTC)
