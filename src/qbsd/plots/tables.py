"""Summary tables as pages of the HTML report (``snakemake --report report.html``)."""

from __future__ import annotations

import pandas as pd

from .data import censored

_TABLE_CSS = (
    "body{font-family:'DejaVu Sans',Arial,sans-serif;font-size:12px;margin:8px}"
    "table{border-collapse:collapse}"
    "th,td{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}"
    "th{position:sticky;top:0;background:#f4f4f4}"
    "td.nr{color:#777;font-style:italic}"
)


def table_html(frame: pd.DataFrame, title: str = "", digits: int = 6) -> str:
    """A summary table as one self-contained, deterministic HTML page.

    Numbers keep ``digits`` significant digits; a half-life that is censored
    (its ``*_censored`` column is true) reads "not reached" instead of an
    empty cell; other missing values (undefined quantities) stay empty.
    """
    shown = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            shown[column] = values.map(lambda v: "true" if v else "false")
        elif pd.api.types.is_float_dtype(values):
            shown[column] = values.map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}")
        else:
            shown[column] = values.map(lambda v: "" if pd.isna(v) else str(v))
    for column in frame.columns:
        if f"{column}_censored" in frame.columns:
            shown.loc[censored(frame, column), column] = "not reached"
    body = shown.to_html(index=False, escape=True, border=0)
    body = body.replace("<td>not reached</td>", '<td class="nr">not reached</td>')
    heading = f"<h3>{_escape(title)}</h3>" if title else ""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{_escape(title)}</title><style>{_TABLE_CSS}</style></head>"
        f"<body>{heading}<p>{len(frame)} rows</p>\n{body}\n</body></html>\n"
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
