"""Writes in the generation room: knowledge trees, model prices, the response cache.

Each service owns its transaction and writes its audit event inside it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from audit.services import audit_event_append
from generation.knowledge import NodeDoc, TreeDoc, dump_tree, leaf_tags, parse_tree_document
from generation.models import CachedResponse, KnowledgeNode, KnowledgeTree, ModelPrice

SEED_TREE_PATH = Path(__file__).parent / "seed" / "finance_government.yaml"
SEED_TREE_SLUG = "finance-government-seed"


def _create_nodes(tree: Any, nodes: list[NodeDoc], node_model: Any, parent: Any = None) -> int:
    count = 0
    for position, doc in enumerate(nodes):
        node = node_model.objects.create(tree=tree, parent=parent, level=doc.level, key=doc.key, name_zh=doc.zh,
                                         name_en=doc.en, weight=doc.weight, position=position)
        count += 1 + _create_nodes(tree, doc.children, node_model, node)
    return count


def tree_store(doc: TreeDoc, *, tree_model: Any = KnowledgeTree, node_model: Any = KnowledgeNode) -> tuple[Any, int]:
    """Create or replace the tree ``doc.slug`` (also used by the seed data migration with historical models)."""
    tree, _ = tree_model.objects.update_or_create(slug=doc.slug,
                                                  defaults={"name": doc.name, "description": doc.description})
    node_model.objects.filter(tree=tree).delete()
    return tree, _create_nodes(tree, doc.nodes, node_model)


def knowledge_tree_import(*, text: str, actor: Any) -> KnowledgeTree:
    """Create or replace a knowledge tree from a JSON or YAML document.

    Raises ``GenerationConfigError`` naming the first problem in the document; nothing is changed then.
    """
    doc = parse_tree_document(text)
    with transaction.atomic():
        tree, count = tree_store(doc)
        audit_event_append(actor=actor, action="knowledge_tree.import", object_type="knowledge_tree",
                           object_id=tree.pk, payload={"slug": tree.slug, "nodes": count})
    return tree


def knowledge_tree_document(*, tree: KnowledgeTree) -> TreeDoc:
    """The tree as a document (read-only)."""
    nodes = list(tree.nodes.all().order_by("position", "pk"))
    children: dict[int | None, list[KnowledgeNode]] = {}
    for node in nodes:
        children.setdefault(node.parent_id, []).append(node)

    def doc(node: KnowledgeNode) -> NodeDoc:
        return NodeDoc(key=node.key, level=node.level, zh=node.name_zh, en=node.name_en, weight=node.weight,
                       children=[doc(c) for c in children.get(node.pk, [])])

    return TreeDoc(slug=tree.slug, name=tree.name, description=tree.description,
                   nodes=[doc(n) for n in children.get(None, [])])


def knowledge_tree_export(*, tree: KnowledgeTree, fmt: str) -> str:
    return dump_tree(knowledge_tree_document(tree=tree), fmt)


def knowledge_tree_tags(*, slug: str, language: str, nodes: list[str] | None = None) -> list[dict[str, Any]]:
    """The leaf tags of tree ``slug`` (limited to the subtrees of ``nodes``) for the Condor strategy."""
    from generation.types import GenerationConfigError

    tree = KnowledgeTree.objects.filter(slug=slug).first()
    if tree is None:
        raise GenerationConfigError(f"no knowledge tree {slug!r}")
    return leaf_tags(knowledge_tree_document(tree=tree), language=language, within=nodes)


def model_price_set(*, model: str, prompt_per_1k: Decimal, completion_per_1k: Decimal, currency: str = "CNY",
                    actor: Any) -> ModelPrice:
    with transaction.atomic():
        price, _ = ModelPrice.objects.update_or_create(
            model=model, defaults={"prompt_per_1k": prompt_per_1k, "completion_per_1k": completion_per_1k,
                                   "currency": currency},
        )
        price.full_clean()
        audit_event_append(actor=actor, action="model_price.set", object_type="model_price", object_id=price.pk,
                           payload={"model": model, "prompt_per_1k": str(prompt_per_1k),
                                    "completion_per_1k": str(completion_per_1k), "currency": currency})
    return price


def response_cache_purge(*, request_id: int) -> int:
    """Delete a finished job's cached answers (they are model output, kept only while the job may resume)."""
    deleted, _ = CachedResponse.objects.filter(request_id=request_id).delete()
    return deleted
