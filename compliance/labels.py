"""AI-generated content labels (《人工智能生成合成内容标识办法》 and GB 45438-2025).

The implicit label is metadata under the key ``AIGC`` with the seven fields the standard names;
``ProduceID`` points at the record's audit trail (``request:<id>:record:<id>``) so an inspector can go
from any released line to the events that made it. The explicit label is a visible line a policy may
add to every released record.
"""

from __future__ import annotations

from typing import Any

AIGC_KEY = "AIGC"
AIGC_FIELDS = (
    "Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID", "ReservedCode2",
)
PRODUCER = "synthgate"


def implicit_label(
    *, produce_id: str, propagator: str = "", propagate_id: str = "", reserved_code: str = ""
) -> dict[str, str]:
    """The ``AIGC`` metadata value. ``Label`` "1" = the content is AI-generated."""
    if not produce_id:
        raise ValueError("ProduceID must name the content's audit trail")
    return {
        "Label": "1",
        "ContentProducer": PRODUCER,
        "ProduceID": produce_id,
        "ReservedCode1": reserved_code,
        "ContentPropagator": propagator,
        "PropagateID": propagate_id,
        "ReservedCode2": "",
    }


def explicit_label_line(policy_version: Any) -> str | None:
    """The visible label line when the policy asks for one, else ``None``."""
    if not getattr(policy_version, "explicit_label", False):
        return None
    return str(policy_version.explicit_label_text or "").strip() or None


def with_explicit_label(content: Any, label: str | None) -> Any:
    """``content`` with the visible label added: a closing assistant-free ``label`` field for structured
    records, or a final line for plain text. ``None`` returns the content unchanged."""
    if not label:
        return content
    if isinstance(content, str):
        return f"{content}\n{label}"
    if isinstance(content, dict):
        return {**content, "label": label}
    return content
