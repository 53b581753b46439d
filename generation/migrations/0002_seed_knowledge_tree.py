"""Seed knowledge tree for finance and government services (generation/seed/finance_government.yaml)."""

from pathlib import Path

from django.db import migrations

SEED = Path(__file__).resolve().parent.parent / "seed" / "finance_government.yaml"


def seed_tree(apps, schema_editor):
    from generation.knowledge import parse_tree_document
    from generation.services import tree_store

    doc = parse_tree_document(SEED.read_text(encoding="utf-8"))
    tree_model = apps.get_model("generation", "KnowledgeTree")
    node_model = apps.get_model("generation", "KnowledgeNode")
    if not tree_model.objects.filter(slug=doc.slug).exists():
        tree_store(doc, tree_model=tree_model, node_model=node_model)


def unseed_tree(apps, schema_editor):
    apps.get_model("generation", "KnowledgeTree").objects.filter(slug="finance-government-seed").delete()


class Migration(migrations.Migration):
    dependencies = [("generation", "0001_initial")]
    operations = [migrations.RunPython(seed_tree, unseed_tree)]
