"""Generation strategies: how a spec and a slot become one validated record.

``PromptTemplateStrategy`` is the "prompt engineering" mode of the founding document: task +
conditions + few-shot examples in a versioned template, one call, strict schema validation, and
at most one repair call. Output that is still malformed raises; nothing is ever filled in silently.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from typing import Any, Protocol

from generation.topics import DOMAIN_TOPICS, Topic
from generation.types import (
    Backend,
    Completion,
    GeneratedRecord,
    GenerationConfigError,
    GenerationSpec,
    MalformedOutputError,
)

SLOT_SEED_MULTIPLIER = 1_000_003
MAX_ATTEMPTS = 2  # the call plus one repair: a model that fails twice is not coaxed further
MAX_FEW_SHOT_EXAMPLES = 3
# Enough of a bad answer for the model to see its mistake, without resending a runaway output.
MAX_ECHOED_OUTPUT_CHARS = 4000

_TOPIC_CONDITION = re.compile(r"^\s*(?:topic|主题)\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)
_CODE_FENCE = re.compile(r"^```(?:json)?\s*\n?(.*?)\n?```$", re.DOTALL | re.IGNORECASE)


class Strategy(Protocol):
    name: str

    def generate(self, *, spec: GenerationSpec, slot_index: int, backend: Backend) -> GeneratedRecord: ...


@dataclass(frozen=True)
class PromptTemplate:
    """A versioned prompt: ``$placeholders`` (``string.Template``) so JSON braces need no escaping."""

    template_id: str
    version: int
    system: str
    user: str
    repair: str
    schema: str

    @property
    def text(self) -> str:
        return "\n\n".join((self.system, self.user, self.repair, self.schema))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


_DIRECTIVES = "OUTPUT_SCHEMA: $kind\nLANGUAGE: $language\nTOPIC: $topic"

_DIALOGUE_JSON = '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}'
_QA_JSON = '{"instruction": "...", "response": "..."}'
_MATH_JSON = '{"problem": "...", "steps": ["...", "..."], "final_answer": "..."}'
_SCHEMA_HINTS = {
    ("dialogue", "zh"): _DIALOGUE_JSON + "\nuser 与 assistant 交替发言，由 user 开始，至少 2 条，content 不能为空。",
    ("dialogue", "en"): _DIALOGUE_JSON + "\nTurns alternate user/assistant, starting with user, at least 2, "
    "no empty content.",
    ("qa", "zh"): _QA_JSON + "\n两个字段都必须是非空字符串。",
    ("qa", "en"): _QA_JSON + "\nBoth fields must be non-empty strings.",
    ("math", "zh"): _MATH_JSON
    + "\nsteps 是逐步推导（至少 1 步），final_answer 只写最终结果（数值或表达式），不超过 100 字。",
    ("math", "en"): _MATH_JSON + "\nsteps is the step-by-step working (at least 1 step); final_answer holds only the "
    "final result (a number or expression), at most 100 characters.",
}

_ZH_SYSTEM = (
    "你是一名为中国金融机构生成合成训练数据的助手。所写内容全部为虚构，用于训练和评测客服模型。"
    "内容须符合法律法规和金融监管要求，表述专业、准确、自然。只输出一个 JSON 对象，不要输出任何其他文字。"
)
_EN_SYSTEM = (
    "You write synthetic training data for financial institutions in China. Everything you write is "
    "fictional and is used to train and evaluate customer-service models. Keep it lawful, accurate, "
    "professional and natural. Output exactly one JSON object and nothing else."
)
_ZH_REPAIR = (
    "你上一次的输出不符合要求（$reason）。请只返回合法的 JSON，且必须符合以下格式，"
    "不要附加任何解释或代码块标记：\n$schema\n\n" + _DIRECTIVES
)
_EN_REPAIR = (
    "Your previous output was not acceptable ($reason). Return valid JSON only, matching this schema, "
    "with no explanation and no code fences:\n$schema\n\n" + _DIRECTIVES
)

TEMPLATES: dict[tuple[str, str], PromptTemplate] = {
    ("dialogue", "zh"): PromptTemplate(
        template_id="prompt_template.dialogue.zh",
        version=1,
        system=_ZH_SYSTEM,
        user=(
            "任务：$task\n用途：$purpose\n领域：$domain\n主题：$topic\n${conditions}${examples}"
            "请写一段客户（user）与银行客服（assistant）之间围绕上述主题的多轮对话：客户的问题要具体，"
            "客服的回答要符合业务规范。\n只输出如下格式的 JSON：\n$schema\n\n" + _DIRECTIVES
        ),
        repair=_ZH_REPAIR,
        schema=_SCHEMA_HINTS[("dialogue", "zh")],
    ),
    ("dialogue", "en"): PromptTemplate(
        template_id="prompt_template.dialogue.en",
        version=1,
        system=_EN_SYSTEM,
        user=(
            "Task: $task\nPurpose: $purpose\nDomain: $domain\nTopic: $topic\n${conditions}${examples}"
            "Write a multi-turn conversation about this topic between a customer (user) and a bank "
            "customer-service agent (assistant). The customer's questions are concrete; the agent's answers "
            "follow sound banking practice.\nOutput only JSON in this format:\n$schema\n\n" + _DIRECTIVES
        ),
        repair=_EN_REPAIR,
        schema=_SCHEMA_HINTS[("dialogue", "en")],
    ),
    ("qa", "zh"): PromptTemplate(
        template_id="prompt_template.qa.zh",
        version=1,
        system=_ZH_SYSTEM,
        user=(
            "任务：$task\n用途：$purpose\n领域：$domain\n主题：$topic\n${conditions}${examples}"
            "请围绕上述主题写一条指令（instruction）及其高质量回答（response）。\n"
            "只输出如下格式的 JSON：\n$schema\n\n" + _DIRECTIVES
        ),
        repair=_ZH_REPAIR,
        schema=_SCHEMA_HINTS[("qa", "zh")],
    ),
    ("math", "zh"): PromptTemplate(
        template_id="prompt_template.math.zh",
        version=1,
        system=_ZH_SYSTEM,
        user=(
            "任务：$task\n用途：$purpose\n领域：$domain\n主题：$topic\n${conditions}${examples}"
            "请围绕上述主题出一道应用数学题，并给出逐步解题过程和明确的最终答案，计算必须准确。\n"
            "只输出如下格式的 JSON：\n$schema\n\n" + _DIRECTIVES
        ),
        repair=_ZH_REPAIR,
        schema=_SCHEMA_HINTS[("math", "zh")],
    ),
    ("math", "en"): PromptTemplate(
        template_id="prompt_template.math.en",
        version=1,
        system=_EN_SYSTEM,
        user=(
            "Task: $task\nPurpose: $purpose\nDomain: $domain\nTopic: $topic\n${conditions}${examples}"
            "Write one applied maths problem about this topic with a step-by-step solution and a clearly "
            "separated final answer. The arithmetic must be exact.\nOutput only JSON in this format:\n$schema\n\n"
            + _DIRECTIVES
        ),
        repair=_EN_REPAIR,
        schema=_SCHEMA_HINTS[("math", "en")],
    ),
    ("qa", "en"): PromptTemplate(
        template_id="prompt_template.qa.en",
        version=1,
        system=_EN_SYSTEM,
        user=(
            "Task: $task\nPurpose: $purpose\nDomain: $domain\nTopic: $topic\n${conditions}${examples}"
            "Write one instruction about this topic and a high-quality response to it.\n"
            "Output only JSON in this format:\n$schema\n\n" + _DIRECTIVES
        ),
        repair=_EN_REPAIR,
        schema=_SCHEMA_HINTS[("qa", "en")],
    ),
}


class _Invalid(Exception):
    """Why an output failed validation; the reason names fields only, never content."""


class PromptTemplateStrategy:
    """Task + conditions + few-shot examples in a versioned template; one repair attempt at most."""

    name = "prompt_template"

    def generate(
        self, *, spec: GenerationSpec, slot_index: int, backend: Backend, topic: str | None = None
    ) -> GeneratedRecord:
        """One validated record for ``slot_index`` (about ``topic``, default: the slot's topic).

        Raises ``MalformedOutputError`` when the output still fails the schema after one repair call,
        and lets the backend's ``TransientGenerationError`` / ``GenerationError`` through untouched.
        """
        template = TEMPLATES[(spec.kind, spec.language)]
        topic = topic or topic_for_slot(spec, slot_index)
        seed = spec.seed * SLOT_SEED_MULTIPLIER + slot_index
        values = {
            "task": spec.task,
            "purpose": spec.purpose,
            "domain": spec.domain,
            "topic": topic,
            "kind": spec.kind,
            "language": spec.language,
            "schema": template.schema,
            "conditions": _conditions_block(spec),
            "examples": _examples_block(spec, slot_index),
        }
        messages = [
            {"role": "system", "content": Template(template.system).substitute(values)},
            {"role": "user", "content": Template(template.user).substitute(values)},
        ]
        parameters = {
            "temperature": spec.temperature,
            "max_tokens": spec.max_tokens,
            "seed": seed,
            "json_mode": True,
        }

        completions: list[Completion] = []
        reasons: list[str] = []
        conversation = list(messages)
        content: dict[str, Any] | None = None
        for _attempt in range(MAX_ATTEMPTS):
            completion = backend.complete(
                conversation,
                temperature=spec.temperature,
                max_tokens=spec.max_tokens,
                seed=seed,
                json_mode=True,
            )
            completions.append(completion)
            try:
                content = validate_output(completion.text, spec.kind)
                break
            except _Invalid as exc:
                reasons.append(str(exc))
                repair = Template(template.repair).substitute(values, reason=str(exc))
                conversation = [
                    *messages,
                    {"role": "assistant", "content": completion.text[:MAX_ECHOED_OUTPUT_CHARS]},
                    {"role": "user", "content": repair},
                ]
        if content is None:
            raise MalformedOutputError(
                f"{backend.name} ({backend.model}) returned output that does not match the {spec.kind} "
                f"schema after {len(completions)} attempts: {'; '.join(reasons)}"
            )

        step: dict[str, Any] = {"step": "generate", "attempts": len(completions)}
        if reasons:
            step["malformed"] = reasons
        provenance = {
            "strategy": self.name,
            "template_id": template.template_id,
            "template_version": template.version,
            "template_hash": template.sha256,
            "prompt_hash": messages_sha256(messages),
            "backend": backend.name,
            "model": backend.model,
            "response_model": completions[-1].model,
            "parameters": parameters,
            "offline": backend.name == "offline",
            "steps": [step],
            "topic": topic,
            "kind": spec.kind,
            "language": spec.language,
        }
        usage = {
            "prompt_tokens": sum(c.prompt_tokens for c in completions),
            "completion_tokens": sum(c.completion_tokens for c in completions),
            "calls": len(completions),
        }
        return GeneratedRecord(
            slot_index=slot_index,
            content=content,
            text=flatten_content(content, spec.kind, spec.language),
            provenance=provenance,
            usage=usage,
        )


STRATEGY_NAMES = ("prompt_template", "multi_step", "knowledge_tree")


def strategy_for_name(name: str) -> Strategy:
    """A fresh strategy instance; ``GenerationConfigError`` for a name we don't know."""
    # The chained strategies build on this module's helpers, so they are imported on first use.
    from generation.multistep import KnowledgeTreeStrategy, MultiStepStrategy

    _STRATEGIES: dict[str, Callable[[], Strategy]] = {
        PromptTemplateStrategy.name: PromptTemplateStrategy,
        MultiStepStrategy.name: MultiStepStrategy,
        KnowledgeTreeStrategy.name: KnowledgeTreeStrategy,
    }
    try:
        return _STRATEGIES[name]()
    except KeyError:
        known = ", ".join(sorted(_STRATEGIES))
        raise GenerationConfigError(f"unknown generation strategy {name!r} (known: {known})") from None


# --- helpers shared with later strategies ---------------------------------------------------------


def messages_sha256(messages: list[dict[str, str]]) -> str:
    canonical = json.dumps(messages, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def domain_topics(domain: str) -> tuple[Topic, ...] | None:
    """The topic list of the first known domain alias the request's domain names ("retail banking customer service")."""
    key = re.sub(r"[\s\-]+", "_", domain.strip().lower())
    if key in DOMAIN_TOPICS:
        return DOMAIN_TOPICS[key]
    return next((topics for alias, topics in DOMAIN_TOPICS.items() if alias in key), None)


def topic_for_slot(spec: GenerationSpec, slot_index: int) -> str:
    """Topics named in the conditions (``topic: ...`` / ``主题：...``) first, else the domain's list."""
    named = [m.group(1) for c in spec.conditions if (m := _TOPIC_CONDITION.match(c))]
    if named:
        return named[slot_index % len(named)]
    topics = domain_topics(spec.domain)
    if topics:
        return topics[slot_index % len(topics)].name(spec.language)
    return spec.domain


def _conditions_block(spec: GenerationSpec) -> str:
    rules = [c.strip() for c in spec.conditions if c.strip() and not _TOPIC_CONDITION.match(c)]
    if not rules:
        return ""
    heading = "要求：" if spec.language == "zh" else "Requirements:"
    return heading + "\n" + "".join(f"- {rule}\n" for rule in rules)


def _examples_block(spec: GenerationSpec, slot_index: int) -> str:
    examples = [e.strip() for e in spec.examples if e.strip()]
    if not examples:
        return ""
    # Rotate through the examples by slot so a large request doesn't imitate the same few.
    count = min(MAX_FEW_SHOT_EXAMPLES, len(examples))
    chosen = [examples[(slot_index + i) % len(examples)] for i in range(count)]
    label = "示例" if spec.language == "zh" else "Example"
    heading = (
        "参考示例（学习风格，不要照抄）：" if spec.language == "zh" else "Examples (match the style, do not copy):"
    )
    body = "".join(f"{label} {i}:\n{example}\n" for i, example in enumerate(chosen, start=1))
    return f"{heading}\n{body}"


def validate_output(text: str, kind: str) -> dict[str, Any]:
    """The record parsed from ``text`` and normalised to the schema for ``kind``; ``_Invalid`` if not."""
    stripped = text.strip()
    fenced = _CODE_FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1).strip()
    if not stripped:
        raise _Invalid("empty output")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise _Invalid(f"top level is {type(data).__name__}, not an object")
    if kind == "dialogue":
        return {"messages": _validate_dialogue(data)}
    if kind == "math":
        return _validate_math(data)
    if kind in _STEP_SCHEMAS:
        return _STEP_SCHEMAS[kind](data)
    return _validate_qa(data)


def _validate_dialogue(data: dict[str, Any]) -> list[dict[str, str]]:
    turns = data.get("messages")
    if not isinstance(turns, list):
        raise _Invalid("'messages' is missing or not a list")
    if len(turns) < 2:
        raise _Invalid(f"'messages' has {len(turns)} turns, at least 2 are required")
    normalised = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise _Invalid(f"messages[{i}] is not an object")
        expected = "user" if i % 2 == 0 else "assistant"
        if turn.get("role") != expected:
            raise _Invalid(f"messages[{i}].role must be {expected!r} (turns alternate, user first)")
        content = turn.get("content")
        if not isinstance(content, str) or not content.strip():
            raise _Invalid(f"messages[{i}].content must be a non-empty string")
        normalised.append({"role": expected, "content": content.strip()})
    return normalised


def _validate_qa(data: dict[str, Any]) -> dict[str, Any]:
    record = {}
    for key in ("instruction", "response"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip():
            raise _Invalid(f"{key!r} must be a non-empty string")
        record[key] = value.strip()
    return record


MAX_FINAL_ANSWER_CHARS = 100


def _validate_math(data: dict[str, Any]) -> dict[str, Any]:
    problem = data.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise _Invalid("'problem' must be a non-empty string")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        raise _Invalid("'steps' must be a non-empty list of strings")
    if not all(isinstance(step, str) and step.strip() for step in steps):
        raise _Invalid("every item of 'steps' must be a non-empty string")
    final = data.get("final_answer")
    if isinstance(final, int | float) and not isinstance(final, bool):
        final = str(final)
    if not isinstance(final, str) or not final.strip():
        raise _Invalid("'final_answer' must be a non-empty string or number")
    if len(final.strip()) > MAX_FINAL_ANSWER_CHARS:
        raise _Invalid(f"'final_answer' must be the result only (at most {MAX_FINAL_ANSWER_CHARS} characters)")
    return {"problem": problem.strip(), "steps": [step.strip() for step in steps], "final_answer": final.strip()}


def _string_field(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def check(data: dict[str, Any]) -> dict[str, Any]:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise _Invalid(f"{name!r} must be a non-empty string")
        return {name: value.strip()}

    return check


def _string_list(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def check(data: dict[str, Any]) -> dict[str, Any]:
        value = data.get(name)
        if not isinstance(value, list) or not value:
            raise _Invalid(f"{name!r} must be a non-empty list of strings")
        items = [v.strip() for v in value if isinstance(v, str) and v.strip()]
        if len(items) != len(value):
            raise _Invalid(f"every item of {name!r} must be a non-empty string")
        return {name: list(dict.fromkeys(items))}

    return check


# The intermediate steps of the multi-step and knowledge-tree strategies, each with its own schema.
_STEP_SCHEMAS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "subcategories": _string_list("subcategories"),
    "items": _string_list("items"),
    "question": _string_field("question"),
    "answer": _string_field("answer"),
    "critique": _string_field("critique"),
}


def flatten_content(content: dict[str, Any], kind: str, language: str) -> str:
    """The text compliance screens: speaker-labelled lines in the record's language."""
    if kind == "math":
        problem, solution, final = (
            ("题目：", "解：", "最终答案：") if language == "zh" else ("Problem: ", "Solution:", "Final answer: ")
        )
        steps = "\n".join(f"{i}. {step}" for i, step in enumerate(content["steps"], start=1))
        return f"{problem}{content['problem']}\n{solution}\n{steps}\n{final}{content['final_answer']}"
    if kind == "dialogue":
        if language == "zh":
            labels = {"user": "客户：", "assistant": "客服："}
        else:
            labels = {"user": "Customer: ", "assistant": "Agent: "}
        return "\n".join(labels[m["role"]] + m["content"] for m in content["messages"])
    question, answer = ("问：", "答：") if language == "zh" else ("Question: ", "Answer: ")
    return f"{question}{content['instruction']}\n{answer}{content['response']}"
