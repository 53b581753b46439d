"""What a request's ``options`` may hold, checked before a request is created (clear 400s, not failed jobs)."""

from __future__ import annotations

from typing import Any

KNOWN_OPTIONS = {
    "conditions": "list of strings: rules every record must follow (e.g. 'stress value for money')",
    "theme": "string: the multi-step theme (default: the request's domain)",
    "subcategories": "list of names, or {name: weight}: fixes the multi-step subcategory mix",
    "subcategory_count": "integer 1-50: subcategories the model proposes when no mix is fixed",
    "items_per_subcategory": "integer 1-100",
    "tree": "string: knowledge-tree slug (default finance-government-seed)",
    "nodes": "list of node keys: sample only from these subtrees",
    "task_types": "list of strings (default explain, how_to, compare, case_analysis, calculate)",
    "difficulty": "list of strings (default easy, medium, hard)",
    "refine": "boolean: run Condor Refine (critique + rewrite), default true",
}


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v.strip() for v in value)


def options_problems(options: Any) -> list[str]:
    """Every problem with ``options`` in words; empty when they are fine."""
    if not isinstance(options, dict):
        return ["options must be an object"]
    problems = [f"unknown option {key!r} (known: {', '.join(sorted(KNOWN_OPTIONS))})"
                for key in options if key not in KNOWN_OPTIONS]
    for key in ("conditions", "nodes", "task_types", "difficulty"):
        if key in options and not _strings(options[key]):
            problems.append(f"{key} must be a non-empty list of non-empty strings")
    mix = options.get("subcategories")
    if mix is not None:
        if isinstance(mix, dict):
            ok = bool(mix) and all(isinstance(k, str) and k.strip() and isinstance(v, int | float)
                                   and not isinstance(v, bool) and v >= 0 for k, v in mix.items())
            if not ok or not any(v > 0 for v in mix.values()):
                problems.append("subcategories as a mix must map names to non-negative weights, one above 0")
        elif not _strings(mix):
            problems.append("subcategories must be a list of names or a {name: weight} object")
    for key, high in (("subcategory_count", 50), ("items_per_subcategory", 100)):
        value = options.get(key)
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high):
            problems.append(f"{key} must be an integer from 1 to {high}")
    for key in ("theme", "tree"):
        if key in options and not (isinstance(options[key], str) and options[key].strip()):
            problems.append(f"{key} must be a non-empty string")
    if "refine" in options and not isinstance(options["refine"], bool):
        problems.append("refine must be true or false")
    if not problems and ("tree" in options or "nodes" in options):
        problems.extend(_tree_problems(options))
    return problems


def _tree_problems(options: dict[str, Any]) -> list[str]:
    from generation.models import KnowledgeNode, KnowledgeTree
    from generation.services import SEED_TREE_SLUG

    slug = options.get("tree") or SEED_TREE_SLUG
    tree = KnowledgeTree.objects.filter(slug=slug).first()
    if tree is None:
        return [f"no knowledge tree {slug!r}"]
    nodes = options.get("nodes") or []
    known = set(KnowledgeNode.objects.filter(tree=tree, key__in=nodes).values_list("key", flat=True))
    missing = sorted(set(nodes) - known)
    return [f"knowledge tree {slug!r} has no nodes {missing}"] if missing else []
