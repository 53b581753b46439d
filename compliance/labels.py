"""AI-generated content labels (《人工智能生成合成内容标识办法》 and GB 45438-2025).

The implicit label is metadata under the key ``AIGC`` with the seven fields the standard names;
``ProduceID`` points at the record's audit trail (``request:<id>:record:<id>``) so an inspector can go
from any released line to the events that made it.

The explicit label is a visible line in the content itself, added at release when the policy version sets
``explicit_label``. Its text follows the record's language (``本内容由人工智能生成`` for Chinese,
``AI-generated content`` for English) unless the policy gives its own ``explicit_label_text``. It goes where a
reader of the record sees it: the end of the last assistant turn of a dialogue, the end of a response, the last
step of a worked solution, the last line of plain text.
"""

from __future__ import annotations

import re
from typing import Any

from .policy_schema import DEFAULT_EXPLICIT_LABEL_TEXT, EXPLICIT_LABEL_TEXTS

AIGC_KEY = "AIGC"
AIGC_FIELDS = (
    "Label", "ContentProducer", "ProduceID", "ReservedCode1", "ContentPropagator", "PropagateID", "ReservedCode2",
)
PRODUCER = "synthgate"
# Where the label line goes in each record shape (the manifest states it).
PLACEMENT = {
    "dialogue": "appended to the last assistant message",
    "qa": "appended to the response",
    "math": "appended to the last solution step",
    "text": "appended as the last line",
}
_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


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


def content_language(content: Any, default: str = "zh") -> str:
    """``zh`` or ``en`` for a record: Chinese if Chinese characters are at least a fifth of its letters."""
    from .screening import content_text

    text = content_text(content)
    cjk, latin = len(_CJK.findall(text)), len(_LATIN.findall(text))
    if cjk + latin == 0:
        return default if default in EXPLICIT_LABEL_TEXTS else "zh"
    # A Chinese character carries about as much as a 3-4 letter word, hence the low share.
    return "zh" if cjk * 5 >= cjk + latin else "en"


def explicit_label_line(policy_version: Any, language: str = "zh") -> str | None:
    """The visible label line for a record in ``language`` when the policy asks for one, else ``None``.

    A policy that kept the default text gets the line in the record's own language; a policy with its own
    ``explicit_label_text`` gets that text on every record.
    """
    if not getattr(policy_version, "explicit_label", False):
        return None
    custom = str(getattr(policy_version, "explicit_label_text", "") or "").strip()
    if custom and custom != DEFAULT_EXPLICIT_LABEL_TEXT:
        return custom
    return EXPLICIT_LABEL_TEXTS.get(language, EXPLICIT_LABEL_TEXTS["zh"])


def explicit_label_manifest(policy_version: Any, labelled: int) -> dict[str, Any]:
    """What the dataset manifest says about the explicit label: required or not, the lines, where they go."""
    if not getattr(policy_version, "explicit_label", False):
        return {"required": False, "records_labelled": 0}
    custom = str(getattr(policy_version, "explicit_label_text", "") or "").strip()
    lines = (
        {"all": custom} if custom and custom != DEFAULT_EXPLICIT_LABEL_TEXT else dict(EXPLICIT_LABEL_TEXTS)
    )
    return {"required": True, "lines": lines, "placement": PLACEMENT, "records_labelled": labelled}


def with_explicit_label(content: Any, label: str | None) -> Any:
    """``content`` with the visible ``label`` line added where a reader sees it (see the module docstring).

    ``None`` returns the content unchanged; the input is never modified. A shape with no text to attach to
    gets a ``label`` field, so the label is never silently dropped.
    """
    if not label:
        return content
    if isinstance(content, str):
        return f"{content}\n{label}"
    if isinstance(content, dict):
        messages = content.get("messages")
        if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
            target = max(
                (i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=len(messages) - 1
            )
            labelled = [dict(m) for m in messages]
            labelled[target]["content"] = f"{labelled[target].get('content', '')}\n\n{label}"
            return {**content, "messages": labelled}
        if isinstance(content.get("response"), str):
            return {**content, "response": f"{content['response']}\n\n{label}"}
        steps = content.get("steps")
        if isinstance(steps, list) and steps and isinstance(steps[-1], str):
            return {**content, "steps": [*steps[:-1], f"{steps[-1]}\n\n{label}"]}
        return {**content, "label": label}
    return content
