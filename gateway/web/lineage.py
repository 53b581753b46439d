"""The lineage graph of one dataset request, drawn server-side as an inline SVG.

sources → generation → screening → gates → approval → release, each box filled from the request's
rows and audit events. Every text is escaped; the SVG holds counts, names and short hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

_BOX_W = 190
_BOX_H = 112
_GAP = 34
_LINE_H = 17


@dataclass
class LineageNode:
    key: str
    title: str
    status: str  # "done", "failed", "pending"
    lines: list[str] = field(default_factory=list)


def lineage_svg(nodes: list[LineageNode]) -> SafeString:
    """Lay the nodes out left to right with arrows between them; returns markup safe to embed."""
    width = len(nodes) * _BOX_W + (len(nodes) - 1) * _GAP + 20
    height = _BOX_H + 20
    status_text = {"done": _("done"), "failed": _("failed"), "pending": _("pending")}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="lineage-title">',
        f'<title id="lineage-title">{escape(_("Lineage"))}: '
        f'{escape(" → ".join(n.title for n in nodes))}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#44546a"/></marker></defs>',
    ]
    for index, node in enumerate(nodes):
        x = 10 + index * (_BOX_W + _GAP)
        y = 10
        parts.append(
            f'<g class="lineage-node lineage-{escape(node.status)}" data-node="{escape(node.key)}">'
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="8"/>'
            f'<text x="{x + 10}" y="{y + 22}" class="lineage-title">{escape(node.title)}</text>'
            f'<text x="{x + _BOX_W - 10}" y="{y + 22}" text-anchor="end" class="lineage-status">'
            f'{escape(status_text.get(node.status, node.status))}</text>'
        )
        for line_no, line in enumerate(node.lines[:4]):
            text = line if len(line) <= 26 else line[:25] + "…"
            parts.append(f'<text x="{x + 10}" y="{y + 46 + line_no * _LINE_H}">{escape(text)}</text>')
        parts.append("</g>")
        if index < len(nodes) - 1:
            x1 = x + _BOX_W
            mid = y + _BOX_H // 2
            parts.append(f'<line x1="{x1 + 2}" y1="{mid}" x2="{x1 + _GAP - 4}" y2="{mid}" '
                         'stroke="#44546a" stroke-width="2" marker-end="url(#arrow)"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text above is escaped
