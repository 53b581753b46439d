"""Strategies that chain several model calls, each output feeding the next.

``MultiStepStrategy``: theme → subcategories → concrete items → one record per slot (the founding
document's 家电维修咨询 → 冰箱 / 空调 / 洗衣机 → dialogues). The request may fix the subcategory mix.

``KnowledgeTreeStrategy`` (Condor): *Void* samples a knowledge-tree tag × task type × difficulty and
asks for a question, then an answer; *Refine* has the model critique its answer and rewrite it.
Critique and draft are returned in ``provenance["model_texts"]`` so the gateway masks them before
anything is stored.

Every call's output is parsed against its schema with one repair call at most
(``run_step``); a step that is still malformed raises ``MalformedOutputError`` and the slot fails.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from string import Template
from typing import Any

from generation.strategies import (
    MAX_ATTEMPTS,
    MAX_ECHOED_OUTPUT_CHARS,
    SLOT_SEED_MULTIPLIER,
    TEMPLATES,
    PromptTemplate,
    PromptTemplateStrategy,
    _Invalid,
    flatten_content,
    messages_sha256,
    topic_for_slot,
    validate_output,
)
from generation.types import (
    Backend,
    Completion,
    GeneratedRecord,
    GenerationSpec,
    MalformedOutputError,
)

_DIRECTIVES = "OUTPUT_SCHEMA: $schema_name\nLANGUAGE: $language\nTOPIC: $topic"
_SYSTEM = {
    "zh": "你是一名为中国金融和政务服务机构生成合成训练数据的助手。内容全部为虚构，须合法、准确、专业。"
    "只输出一个 JSON 对象，不要输出任何其他文字。",
    "en": "You write synthetic training data for financial and government-service institutions in China. "
    "Everything is fictional, lawful, accurate and professional. Output exactly one JSON object and nothing else.",
}
_REPAIR = {
    "zh": "你上一次的输出不符合要求（$reason）。请只返回合法的 JSON，格式如下，不要附加解释或代码块标记：\n$schema\n\n"
    + _DIRECTIVES,
    "en": "Your previous output was not acceptable ($reason). Return valid JSON only, in this format, with no "
    "explanation and no code fences:\n$schema\n\n" + _DIRECTIVES,
}


def _step_template(step: str, language: str, user: str, schema: str) -> PromptTemplate:
    return PromptTemplate(
        template_id=f"{step}.{language}", version=1, system=_SYSTEM[language],
        user=user + "\n$schema\n\n" + _DIRECTIVES, repair=_REPAIR[language], schema=schema,
    )


STEP_TEMPLATES: dict[tuple[str, str], PromptTemplate] = {
    ("multi_step.subcategories", "zh"): _step_template(
        "multi_step.subcategories", "zh",
        "主题：$topic\n任务：$task\n${conditions}"
        "请把这个主题细分为 $count 个互不重叠的子类别，每个子类别用一个简短名词短语表示。\n"
        "只输出如下格式的 JSON：",
        '{"subcategories": ["...", "..."]}',
    ),
    ("multi_step.subcategories", "en"): _step_template(
        "multi_step.subcategories", "en",
        "Theme: $topic\nTask: $task\n${conditions}Split this theme into $count non-overlapping subcategories, each a "
        "short noun phrase.\nOutput only JSON in this format:",
        '{"subcategories": ["...", "..."]}',
    ),
    ("multi_step.items", "zh"): _step_template(
        "multi_step.items", "zh",
        "主题：$theme\n子类别：$topic\n任务：$task\n${conditions}"
        "请列出该子类别下 $count 个具体、各不相同的场景或问题，每个一句话。\n"
        "只输出如下格式的 JSON：",
        '{"items": ["...", "..."]}',
    ),
    ("multi_step.items", "en"): _step_template(
        "multi_step.items", "en",
        "Theme: $theme\nSubcategory: $topic\nTask: $task\n${conditions}List $count concrete, distinct situations or "
        "questions in this subcategory, one sentence each.\nOutput only JSON in this format:",
        '{"items": ["...", "..."]}',
    ),
    ("condor.void_question", "zh"): _step_template(
        "condor.void_question", "zh",
        "知识标签：$tag_path\n任务类型：$task_type\n难度：$difficulty\n题型：$kind\n${conditions}"
        "请围绕该知识标签写一个符合任务类型和难度的问题（题型为 math 时写一道需要计算的应用题）。问题要具体、可回答。\n"
        "只输出如下格式的 JSON：",
        '{"question": "..."}',
    ),
    ("condor.void_question", "en"): _step_template(
        "condor.void_question", "en",
        "Knowledge tag: $tag_path\nTask type: $task_type\nDifficulty: $difficulty\nKind: $kind\n${conditions}"
        "Write one question about this tag that fits the task type and difficulty (for kind math, an applied "
        "problem that needs calculation). It must be concrete and answerable.\nOutput only JSON in this format:",
        '{"question": "..."}',
    ),
    ("condor.answer", "zh"): _step_template(
        "condor.answer", "zh",
        "问题：$question\n知识标签：$tag_path\n${conditions}请给出准确、完整、有条理的回答。\n只输出如下格式的 JSON：",
        "$answer_schema",
    ),
    ("condor.answer", "en"): _step_template(
        "condor.answer", "en",
        "Question: $question\nKnowledge tag: $tag_path\n${conditions}Give an accurate, complete, well-organised answer."
        "\nOutput only JSON in this format:",
        "$answer_schema",
    ),
    ("condor.refine_critique", "zh"): _step_template(
        "condor.refine_critique", "zh",
        "问题：$question\n回答：$draft\n请从准确性、完整性、逻辑一致性和表达四方面批评这个回答，指出具体的问题和改进建议。\n"
        "只输出如下格式的 JSON：",
        '{"critique": "..."}',
    ),
    ("condor.refine_critique", "en"): _step_template(
        "condor.refine_critique", "en",
        "Question: $question\nAnswer: $draft\nCritique this answer for accuracy, completeness, internal consistency "
        "and style; name concrete problems and improvements.\nOutput only JSON in this format:",
        '{"critique": "..."}',
    ),
    ("condor.refine_rewrite", "zh"): _step_template(
        "condor.refine_rewrite", "zh",
        "问题：$question\n原回答：$draft\n评审意见：$critique\n"
        "请根据评审意见改写回答，修正所有问题。\n只输出如下格式的 JSON：",
        "$answer_schema",
    ),
    ("condor.refine_rewrite", "en"): _step_template(
        "condor.refine_rewrite", "en",
        "Question: $question\nOriginal answer: $draft\nReview: $critique\nRewrite the answer, fixing every problem "
        "the review names.\nOutput only JSON in this format:",
        "$answer_schema",
    ),
}

DEFAULT_TASK_TYPES = ("explain", "how_to", "compare", "case_analysis", "calculate")
DEFAULT_DIFFICULTIES = ("easy", "medium", "hard")
_ANSWER_SCHEMA = '{"answer": "..."}'
_MATH_SCHEMA = '{"problem": "...", "steps": ["...", "..."], "final_answer": "..."}'


def run_step(
    *,
    backend: Backend,
    template: PromptTemplate,
    values: dict[str, Any],
    schema_name: str,
    spec: GenerationSpec,
    seed: int,
    step: str,
) -> tuple[dict[str, Any], list[Completion], dict[str, Any]]:
    """One validated call: (parsed output, completions, provenance step). ``MalformedOutputError`` if not."""
    values = {**values, "schema_name": schema_name, "language": spec.language}
    schema = Template(template.schema).substitute(values)
    values["schema"] = schema
    messages = [
        {"role": "system", "content": Template(template.system).substitute(values)},
        {"role": "user", "content": Template(template.user).substitute(values)},
    ]
    completions: list[Completion] = []
    reasons: list[str] = []
    conversation = list(messages)
    for _attempt in range(MAX_ATTEMPTS):
        completion = backend.complete(
            conversation, temperature=spec.temperature, max_tokens=spec.max_tokens, seed=seed, json_mode=True
        )
        completions.append(completion)
        try:
            parsed = validate_output(completion.text, schema_name)
        except _Invalid as exc:
            reason = str(exc)
            if completion.finish_reason == "length":
                reason += " (output truncated at max_tokens)"
            reasons.append(reason)
            conversation = [
                *messages,
                {"role": "assistant", "content": completion.text[:MAX_ECHOED_OUTPUT_CHARS]},
                {"role": "user", "content": Template(template.repair).substitute(values, reason=reason)},
            ]
            continue
        record: dict[str, Any] = {
            "step": step, "template_id": template.template_id, "template_version": template.version,
            "template_hash": template.sha256, "prompt_hash": messages_sha256(messages), "seed": seed,
            "attempts": len(completions),
        }
        if reasons:
            record["malformed"] = reasons
        return parsed, completions, record
    raise MalformedOutputError(
        f"{backend.name} ({backend.model}) returned output that does not match the {schema_name} schema in step "
        f"{step!r} after {len(completions)} attempts: {'; '.join(reasons)}"
    )


def _usage(completions: list[Completion]) -> dict[str, int]:
    return {
        "prompt_tokens": sum(c.prompt_tokens for c in completions),
        "completion_tokens": sum(c.completion_tokens for c in completions),
        "calls": len(completions),
    }


def _stable_int(*parts: Any) -> int:
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:6], "big")


def _conditions(spec: GenerationSpec) -> str:
    rules = [c.strip() for c in spec.conditions if c.strip()]
    if not rules:
        return ""
    heading = "要求：" if spec.language == "zh" else "Requirements:"
    return heading + "\n" + "".join(f"- {rule}\n" for rule in rules)


def weighted_slot_choice(weights: list[tuple[str, float]], slot_index: int, size: int) -> str:
    """The entry whose share of ``[0, 1)`` holds slot ``slot_index`` of ``size``: an exact mix, not a random one.

    Slots are spread with a stride coprime to ``size`` so that each chunk of slots sees the whole mix.
    """
    total = sum(w for _, w in weights)
    if size <= 1:
        position = 0.5
    else:
        stride = _coprime_stride(size)
        position = (((slot_index % size) * stride) % size + 0.5) / size
    cumulative = 0.0
    for name, weight in weights:
        cumulative += weight / total
        if position < cumulative:
            return name
    return weights[-1][0]


def _coprime_stride(size: int) -> int:
    from math import gcd

    stride = max(1, int(size * 0.618))
    while gcd(stride, size) != 1:
        stride += 1
    return stride


class MultiStepStrategy:
    """Theme → subcategories → items → record; list steps are shared by every slot (and cached).

    ``plan`` pays for the shared steps once per job, before its chunks fan out to workers; ``generate``
    then answers them from the response cache, whichever worker runs the slot.
    """

    name = "multi_step"

    def __init__(self) -> None:
        self._memo: dict[str, tuple[dict[str, Any], list[Completion], dict[str, Any]]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _once(self, key: str, compute: Any) -> tuple[dict[str, Any], list[Completion], dict[str, Any], bool]:
        """The memoised result of a shared step and whether this call computed it (and so paid for it)."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._memo:
                parsed, completions, step = self._memo[key]
                return parsed, completions, step, False
            result = compute()
            self._memo[key] = result
            return *result, True

    def plan(self, *, spec: GenerationSpec, backend: Backend, concurrency: int = 8) -> list[dict[str, Any]]:
        """Run every step the job's slots share (subcategories, then one items list per subcategory in use).

        Returns the steps' provenance records. Raises ``GenerationError`` (transient or malformed) like
        ``generate``; what was paid before the error is in the backend's cache.
        """
        size = max(1, int(spec.option("size") or 1))
        weights, steps, _ = self._subcategories(spec, backend)
        names = [name for name, _ in weights]
        in_use: list[str] = []
        for slot_index in range(size):
            name = weighted_slot_choice(weights, slot_index, size)
            if name not in in_use:
                in_use.append(name)
                if len(in_use) == len(names):
                    break
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(in_use))),
                                thread_name_prefix="plan") as pool:
            for _, _, step, _ in pool.map(lambda name: self._items(spec, backend, name), in_use):
                steps.append(step)
        return steps

    def _subcategories(
        self, spec: GenerationSpec, backend: Backend
    ) -> tuple[list[tuple[str, float]], list[dict[str, Any]], list[Completion]]:
        """The subcategory mix (the request's, or the model's), its provenance step and any calls paid for it."""
        mix = spec.option("subcategories")
        if isinstance(mix, dict) and mix:
            weights = [(str(k), float(v)) for k, v in mix.items() if float(v) > 0]
            return weights, [{"step": "subcategories", "source": "request", "mix": dict(weights)}], []
        if isinstance(mix, list) and mix:
            weights = [(str(k), 1.0) for k in mix]
            return weights, [{"step": "subcategories", "source": "request", "mix": dict(weights)}], []
        theme = _theme(spec)
        count = int(spec.option("subcategory_count") or 4)
        # Seeded per request, not per slot: every slot asks the same question, so it is paid once.
        seed = spec.seed * SLOT_SEED_MULTIPLIER

        def subcategories() -> tuple[dict[str, Any], list[Completion], dict[str, Any]]:
            return run_step(
                backend=backend, template=STEP_TEMPLATES[("multi_step.subcategories", spec.language)],
                values={**_base_values(spec), "topic": theme, "count": count}, schema_name="subcategories",
                spec=spec, seed=seed, step="subcategories",
            )

        parsed, calls, step, fresh = self._once(f"subcategories:{seed}", subcategories)
        weights = [(name, 1.0) for name in parsed["subcategories"]]
        return weights, [{**step, "source": "model", "shared": True}], calls if fresh else []

    def _items(
        self, spec: GenerationSpec, backend: Backend, subcategory: str
    ) -> tuple[list[str], list[Completion], dict[str, Any], bool]:
        """The items list of ``subcategory``, its calls, its provenance step and whether this call paid for it."""
        per_sub = int(spec.option("items_per_subcategory") or 5)
        item_seed = spec.seed * SLOT_SEED_MULTIPLIER + _stable_int("items", subcategory) % SLOT_SEED_MULTIPLIER

        def items() -> tuple[dict[str, Any], list[Completion], dict[str, Any]]:
            return run_step(
                backend=backend, template=STEP_TEMPLATES[("multi_step.items", spec.language)],
                values={**_base_values(spec), "topic": subcategory, "count": per_sub}, schema_name="items",
                spec=spec, seed=item_seed, step="items",
            )

        parsed, calls, step, fresh = self._once(f"items:{item_seed}:{subcategory}", items)
        return list(parsed["items"]), calls, {**step, "shared": True}, fresh

    def generate(self, *, spec: GenerationSpec, slot_index: int, backend: Backend) -> GeneratedRecord:
        theme = _theme(spec)
        size = int(spec.option("size") or 0) or (slot_index + 1)
        # Calls every slot shares are cached request-wide when the backend supports it (MeteredBackend).
        shared_backend: Backend = getattr(backend, "shared", backend)
        weights, steps, completions = self._subcategories(spec, shared_backend)
        subcategory = weighted_slot_choice(weights, slot_index, size)
        names = [name for name, _ in weights]
        item_list, calls, step, fresh = self._items(spec, shared_backend, subcategory)
        if fresh:
            completions = [*completions, *calls]
        steps.append(step)
        item = item_list[(slot_index // max(1, len(names))) % len(item_list)]

        topic = f"{theme} / {subcategory} / {item}"
        record = PromptTemplateStrategy().generate(spec=spec, slot_index=slot_index, backend=backend, topic=topic)
        completions_usage = _usage(completions)
        provenance = {
            **record.provenance,
            "strategy": self.name,
            "steps": [*steps, *record.provenance["steps"]],
            "theme": theme,
            "category": subcategory,
            # Model-written names: the gateway masks these before they are stored.
            "model_texts": {"subcategory": subcategory, "item": item},
        }
        provenance.pop("topic", None)
        usage = {k: record.usage[k] + completions_usage[k] for k in record.usage}
        return GeneratedRecord(slot_index=slot_index, content=record.content, text=record.text,
                               provenance=provenance, usage=usage)


def _theme(spec: GenerationSpec) -> str:
    return str(spec.option("theme") or spec.domain)


def _base_values(spec: GenerationSpec) -> dict[str, Any]:
    return {"task": spec.task, "conditions": _conditions(spec), "theme": _theme(spec)}


class KnowledgeTreeStrategy:
    """Condor Void (tag × task type × difficulty → question → answer) then Refine (critique → rewrite)."""

    name = "knowledge_tree"

    def generate(self, *, spec: GenerationSpec, slot_index: int, backend: Backend) -> GeneratedRecord:
        language = spec.language
        rng = random.Random(_stable_int("condor", spec.seed, slot_index))  # noqa: S311 -- sampling, not security
        tags = _tags(spec, slot_index)
        tag = rng.choices(tags, weights=[float(t.get("weight", 1)) for t in tags])[0]
        task_types = list(spec.option("task_types") or DEFAULT_TASK_TYPES)
        difficulties = list(spec.option("difficulty") or DEFAULT_DIFFICULTIES)
        task_type = rng.choice(task_types)
        difficulty = rng.choice(difficulties)
        tag_path = " > ".join(tag["path"])
        seed = spec.seed * SLOT_SEED_MULTIPLIER + slot_index
        answer_schema_name = "math" if spec.kind == "math" else "answer"
        values = {
            "task": spec.task, "conditions": _conditions(spec), "tag_path": tag_path, "task_type": task_type,
            "difficulty": difficulty, "kind": spec.kind, "topic": tag["path"][-1],
            "answer_schema": _MATH_SCHEMA if spec.kind == "math" else _ANSWER_SCHEMA,
        }
        completions: list[Completion] = []
        steps: list[dict[str, Any]] = []

        def step(template: str, schema_name: str, extra: dict[str, Any], name: str) -> dict[str, Any]:
            nonlocal values
            values = {**values, **extra}
            parsed, calls, record = run_step(
                backend=backend, template=STEP_TEMPLATES[(template, language)], values=values,
                schema_name=schema_name, spec=spec, seed=seed, step=name,
            )
            completions.extend(calls)
            steps.append(record)
            return parsed

        question = step("condor.void_question", "question", {}, "void_question")["question"]
        draft = step("condor.answer", answer_schema_name, {"question": question}, "void_answer")
        draft_text = _answer_text(draft, spec)
        model_texts: dict[str, str] = {}
        final = draft
        if spec.option("refine", True):
            critique = step("condor.refine_critique", "critique", {"draft": draft_text}, "refine_critique")["critique"]
            final = step("condor.refine_rewrite", answer_schema_name, {"critique": critique}, "refine_rewrite")
            model_texts = {"critique": critique, "draft_answer": draft_text}

        content = _record_content(spec.kind, question, final)
        provenance = {
            "strategy": self.name,
            "backend": backend.name,
            "model": backend.model,
            "response_model": completions[-1].model,
            "parameters": {"temperature": spec.temperature, "max_tokens": spec.max_tokens, "seed": seed,
                           "json_mode": True},
            "offline": backend.name == "offline",
            "steps": steps,
            "tag": tag["key"],
            "tag_path": tag["path"],
            "task_type": task_type,
            "difficulty": difficulty,
            "category": tag["key"],
            "refined": bool(model_texts),
            "kind": spec.kind,
            "language": language,
            "prompt_hash": steps[0]["prompt_hash"],
            "model_texts": model_texts,
        }
        return GeneratedRecord(
            slot_index=slot_index, content=content, text=flatten_content(content, spec.kind, language),
            provenance=provenance, usage=_usage(completions),
        )


def _tags(spec: GenerationSpec, slot_index: int) -> list[dict[str, Any]]:
    """The tags to sample from: the request's knowledge-tree leaves, else the domain's topic list."""
    tags = spec.option("tags")
    if tags:
        return list(tags)
    topic = topic_for_slot(spec, slot_index)
    return [{"key": "domain", "path": [spec.domain, topic], "weight": 1}]


def _answer_text(answer: dict[str, Any], spec: GenerationSpec) -> str:
    if spec.kind == "math":
        return flatten_content(answer, "math", spec.language)
    return str(answer["answer"])


def _record_content(kind: str, question: str, final: dict[str, Any]) -> dict[str, Any]:
    if kind == "math":
        return {"problem": question, "steps": final["steps"], "final_answer": final["final_answer"]}
    if kind == "dialogue":
        return {"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": final["answer"]}]}
    return {"instruction": question, "response": final["answer"]}


__all__ = ["TEMPLATES", "KnowledgeTreeStrategy", "MultiStepStrategy", "run_step", "weighted_slot_choice"]
