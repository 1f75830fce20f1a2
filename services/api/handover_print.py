"""A handover as a printable HTML page: inline CSS only, every value escaped."""

from __future__ import annotations

from html import escape
from typing import Any

__all__ = ["render_html"]

_STYLE = """
body { font-family: sans-serif; font-size: 11pt; margin: 1.5cm; }
h1 { font-size: 16pt; } h2 { font-size: 12pt; margin-top: 1.2em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #444; padding: 2px 6px; text-align: left; vertical-align: top; }
.signatures td { height: 2.5em; }
@media print { body { margin: 0; } }
"""
_SECTIONS = (
    ("open_incidents", "Open incidents"),
    ("raised_during_shift", "Raised during the shift"),
    ("cleared_during_shift", "Cleared during the shift"),
    ("isolations", "Isolations"),
    ("systems_in_manual", "Systems in manual"),
    ("devices_offline", "Devices offline"),
    ("shelved_supervision", "Shelved panel supervision"),
    ("tests_due", "Tests due or overdue"),
)
_COLUMNS = {
    "tests_due": ("obligation", "title", "device", "state", "due"),
    "shelved_supervision": ("id", "rule", "subject", "message", "until", "shelved_by", "reason"),
}
_INCIDENT_COLUMNS = ("id", "severity", "state", "subject", "message", "raised_at", "acked_by")


def _text(value: Any) -> str:
    return "" if value is None else escape(str(value))


def _table(items: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not items:
        return "<p>None.</p>"
    head = "".join(f"<th>{escape(column)}</th>" for column in columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_text(item.get(column))}</td>" for column in columns) + "</tr>"
        for item in items
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def render_html(handover: dict[str, Any]) -> str:
    report = handover["report"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Handover {handover['id']}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Shift handover {handover['id']}: {_text(report.get('site'))}</h1>",
        f"<p>Shift {_text(handover['shift_start'])} to {_text(handover['shift_end'])}."
        f" On duty: {_text(', '.join(report.get('on_duty', [])))}</p>",
    ]
    for key, title in _SECTIONS:
        parts.append(f"<h2>{title}</h2>")
        parts.append(_table(report.get(key, []), _COLUMNS.get(key, _INCIDENT_COLUMNS)))
    parts += [
        "<h2>Signatures</h2><table class='signatures'>",
        "<tr><th>Outgoing</th><th>Signed at</th><th>Notes</th></tr>",
        f"<tr><td>{_text(handover['signed_by'])}</td><td>{_text(handover['signed_at'])}</td>"
        f"<td>{_text(handover['notes'])}</td></tr>",
        "<tr><th>Incoming</th><th>Accepted at</th><th>Notes</th></tr>",
        f"<tr><td>{_text(handover['accepted_by'])}</td><td>{_text(handover['accepted_at'])}</td>"
        f"<td>{_text(handover['acceptance_notes'])}</td></tr>",
        "</table></body></html>",
    ]
    return "".join(parts)
