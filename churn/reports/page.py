"""The page around a report: one self-contained HTML file, its style inline, no script, nothing fetched.

Every text put on a page goes through escape() here (or is an SVG from churn.reports.plots), so a
category name or a file name cannot break the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape

CSS = """
:root { color-scheme: light; --ink: #111827; --muted: #6b7280; --line: #e5e7eb; --tint: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); }
main { max-width: 1100px; margin: 0 auto; padding: 24px 28px 48px; }
header { border-bottom: 1px solid var(--line); margin-bottom: 8px; padding-bottom: 12px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 32px 0 8px; }
p, .note { color: var(--muted); margin: 4px 0 12px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 16px 0; }
.tile { background: var(--tint); border-radius: 8px; padding: 10px 14px; }
.tile b { display: block; font-size: 22px; }
.tile span { color: var(--muted); font-size: 13px; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
figure { margin: 0; }
.figures figure:only-child { max-width: 640px; }
td { overflow-wrap: anywhere; }
figure svg { width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 12px 4px 0; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.pass { color: #15803d; font-weight: 600; }
.fail { color: #b91c1c; font-weight: 600; }
code { background: var(--tint); padding: 0 4px; border-radius: 4px; font-size: 13px; }
a { color: #1d4ed8; }
"""


def page(title: str, body: Iterable[str], meta: Mapping[str, str] | None = None) -> str:
    """A whole HTML document: title, <meta name=...> entries (for programs), the body's parts in order."""
    metas = "".join(f'<meta name="{escape(k)}" content="{escape(v)}">\n' for k, v in (meta or {}).items())
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"{metas}<title>{escape(title)}</title>\n<style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def header(title: str, subtitle: str) -> str:
    return f"<header><h1>{escape(title)}</h1><p>{escape(subtitle)}</p></header>"


def section(title: str, *parts: str, note: str = "") -> str:
    intro = f"<p>{escape(note)}</p>" if note else ""
    return f'<section id="{escape(slug(title))}"><h2>{escape(title)}</h2>{intro}\n' + "\n".join(parts) + "</section>"


def tiles(items: Sequence[tuple[str, str, str]]) -> str:
    """Headline figures: (label, value, a short note) each."""
    cells = "".join(
        f'<div class="tile"><span>{escape(label)}</span><b>{escape(value)}</b><span>{escape(note)}</span></div>'
        for label, value, note in items
    )
    return f'<div class="tiles">{cells}</div>'


def figures(*items: tuple[str, str]) -> str:
    """SVG figures side by side (they wrap on a narrow screen), each (svg, caption)."""
    cells = "".join(f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>" for svg, caption in items)
    return f'<div class="figures">{cells}</div>'


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = ()) -> str:
    """A table of text; the columns whose index is in `numeric` are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(value, i in numeric) for i, value in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cell(value: object, numeric: bool) -> str:
    if isinstance(value, Verdict):
        return f'<td class="{"pass" if value.passed else "fail"}">{escape(value.text)}</td>'
    return f'<td class="n">{escape(str(value))}</td>' if numeric else f"<td>{escape(str(value))}</td>"


class Verdict:
    """A table cell shown as passed (green) or failed (red)."""

    def __init__(self, passed: bool, text: str | None = None):
        self.passed = passed
        self.text = text if text is not None else ("passed" if passed else "failed")


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())
