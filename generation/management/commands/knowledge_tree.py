"""Import or export knowledge trees as JSON or YAML.

    manage.py knowledge_tree import tree.yaml
    manage.py knowledge_tree export finance-government-seed --format yaml [--output tree.yaml]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from generation import services
from generation.models import KnowledgeTree
from generation.types import GenerationConfigError


class Command(BaseCommand):
    help = "Import or export knowledge trees (JSON or YAML)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="create or replace a tree from a JSON/YAML file")
        imp.add_argument("path")
        exp = sub.add_parser("export", help="write a tree as JSON or YAML")
        exp.add_argument("slug")
        exp.add_argument("--format", choices=["json", "yaml"], default="yaml")
        exp.add_argument("--output", help="file to write (default: stdout)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            path = Path(options["path"])
            if not path.is_file():
                raise CommandError(f"no such file: {path}")
            try:
                tree = services.knowledge_tree_import(text=path.read_text(encoding="utf-8"), actor=None)
            except GenerationConfigError as exc:
                raise CommandError(f"{path}: {exc}") from None
            self.stdout.write(f"imported knowledge tree {tree.slug} ({tree.nodes.count()} nodes)")
            return
        found = KnowledgeTree.objects.filter(slug=options["slug"]).first()
        if found is None:
            known = ", ".join(KnowledgeTree.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"no knowledge tree {options['slug']!r} (known: {known})")
        text = services.knowledge_tree_export(tree=found, fmt=options["format"])
        if options["output"]:
            Path(options["output"]).write_text(text, encoding="utf-8")
            self.stdout.write(f"wrote {options['output']}")
        else:
            self.stdout.write(text, ending="")
