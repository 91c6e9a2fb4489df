"""The compatibility report: the suite's results on several backends, as a table of
family x feature rows and backend columns, rendered as a page (HTML), Markdown and
JSON, with the history of earlier runs."""

from embedspec.conformance.report.history import record as record_history
from embedspec.conformance.report.html import render_html
from embedspec.conformance.report.json import report_to_json, write_json
from embedspec.conformance.report.markdown import render_markdown
from embedspec.conformance.report.model import BackendRun, Cell, Column, Report, build_report
from embedspec.conformance.report.runs import run_backend

__all__ = [
    "BackendRun",
    "Cell",
    "Column",
    "Report",
    "build_report",
    "record_history",
    "render_html",
    "render_markdown",
    "report_to_json",
    "run_backend",
    "write_json",
]
