"""Knowledge trees as documents (JSON or YAML) and as the tag lists the Condor strategy samples from.

Document shape (``export`` writes it, ``parse_tree_document`` reads it back)::

    slug: finance-government-seed
    name: Finance and government services
    description: ...
    nodes:
      - key: banking
        level: domain
        zh: 银行
        en: Banking
        weight: 1
        children: [...]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from generation.types import GenerationConfigError

LEVELS = ("domain", "topic", "subtopic")


@dataclass
class NodeDoc:
    key: str
    level: str
    zh: str
    en: str = ""
    weight: int = 1
    children: list[NodeDoc] = field(default_factory=list)


@dataclass
class TreeDoc:
    slug: str
    name: str
    description: str
    nodes: list[NodeDoc]


def parse_tree_document(text: str) -> TreeDoc:
    """A validated tree from JSON or YAML text; ``GenerationConfigError`` saying what is wrong."""
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise GenerationConfigError(f"not valid JSON or YAML: {exc}") from None
    if not isinstance(data, dict):
        raise GenerationConfigError("a knowledge tree document must be an object with slug, name and nodes")
    for name in ("slug", "name"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            raise GenerationConfigError(f"'{name}' must be a non-empty string")
    nodes = data.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise GenerationConfigError("'nodes' must be a non-empty list")
    keys: set[str] = set()
    parsed = [_parse_node(node, depth=0, where=f"nodes[{i}]", keys=keys) for i, node in enumerate(nodes)]
    return TreeDoc(slug=data["slug"].strip(), name=data["name"].strip(),
                   description=str(data.get("description") or ""), nodes=parsed)


def _parse_node(node: Any, *, depth: int, where: str, keys: set[str]) -> NodeDoc:
    if not isinstance(node, dict):
        raise GenerationConfigError(f"{where} is not an object")
    if depth >= len(LEVELS):
        raise GenerationConfigError(f"{where} is deeper than domain → topic → subtopic")
    key = node.get("key")
    if not isinstance(key, str) or not key.strip():
        raise GenerationConfigError(f"{where}.key must be a non-empty string")
    if key in keys:
        raise GenerationConfigError(f"{where}.key {key!r} is used twice in this tree")
    keys.add(key)
    level = node.get("level", LEVELS[depth])
    if level != LEVELS[depth]:
        raise GenerationConfigError(f"{where}.level is {level!r} but a node at this depth is a {LEVELS[depth]}")
    zh = node.get("zh")
    if not isinstance(zh, str) or not zh.strip():
        raise GenerationConfigError(f"{where}.zh (the Chinese name) must be a non-empty string")
    weight = node.get("weight", 1)
    if not isinstance(weight, int) or isinstance(weight, bool) or weight < 1:
        raise GenerationConfigError(f"{where}.weight must be a positive integer")
    children = node.get("children") or []
    if not isinstance(children, list):
        raise GenerationConfigError(f"{where}.children must be a list")
    return NodeDoc(
        key=key.strip(), level=level, zh=zh.strip(), en=str(node.get("en") or "").strip(), weight=weight,
        children=[_parse_node(c, depth=depth + 1, where=f"{where}.children[{i}]", keys=keys)
                  for i, c in enumerate(children)],
    )


def tree_document(tree: TreeDoc) -> dict[str, Any]:
    def node(n: NodeDoc) -> dict[str, Any]:
        out: dict[str, Any] = {"key": n.key, "level": n.level, "zh": n.zh}
        if n.en:
            out["en"] = n.en
        if n.weight != 1:
            out["weight"] = n.weight
        if n.children:
            out["children"] = [node(c) for c in n.children]
        return out

    return {"slug": tree.slug, "name": tree.name, "description": tree.description,
            "nodes": [node(n) for n in tree.nodes]}


def dump_tree(tree: TreeDoc, fmt: str) -> str:
    document = tree_document(tree)
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    raise GenerationConfigError(f"unknown format {fmt!r} (json or yaml)")


def leaf_tags(tree: TreeDoc, *, language: str, within: list[str] | None = None) -> list[dict[str, Any]]:
    """Every leaf as ``{"key", "path", "weight"}``; ``within`` limits it to the subtrees of those node keys.

    A leaf's weight is the product of the weights on its path, so a heavy domain stays heavy.
    """
    wanted = set(within or [])
    found: set[str] = set()
    tags: list[dict[str, Any]] = []

    def walk(node: NodeDoc, path: list[str], weight: int, inside: bool) -> None:
        inside = inside or node.key in wanted
        if node.key in wanted:
            found.add(node.key)
        name = node.en if language == "en" and node.en else node.zh
        if not node.children:
            if inside or not wanted:
                tags.append({"key": node.key, "path": [*path, name], "weight": weight * node.weight})
            return
        for child in node.children:
            walk(child, [*path, name], weight * node.weight, inside)

    for root in tree.nodes:
        walk(root, [], 1, False)
    missing = wanted - found
    if missing:
        raise GenerationConfigError(f"knowledge tree {tree.slug!r} has no nodes {sorted(missing)}")
    return tags
