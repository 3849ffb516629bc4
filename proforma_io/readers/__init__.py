"""Readers of landed export files; each returns `FormResponse`s (see proforma_io.forms)."""

from proforma_io.readers.json_export import JsonExport, read_json_export
from proforma_io.readers.xlsx_export import read_xlsx_export

__all__ = ["JsonExport", "read_json_export", "read_xlsx_export"]
