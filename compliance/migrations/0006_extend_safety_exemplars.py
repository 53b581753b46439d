"""Add the seed exemplars written for the trained classifier to the shared base set.

Databases seeded by 0003 hold the first 99 exemplars; drafts screen with the base set, so without this they would
keep training the classifier on those. Only missing rows are added; published versions keep their own pinned
snapshot and are not touched.
"""

import csv
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data"


def add_missing(apps, schema_editor):
    exemplar_model = apps.get_model("compliance", "SafetyExemplar")
    existing = set(exemplar_model.objects.filter(policy_version=None).values_list("risk_code", "lang", "text"))
    with (DATA / "safety_exemplars.csv").open(encoding="utf-8", newline="") as handle:
        rows = [(r["risk_code"], r["lang"], r["text"].strip()) for r in csv.DictReader(handle)]
    exemplar_model.objects.bulk_create(
        exemplar_model(policy_version=None, risk_code=r, lang=lang, text=text)
        for r, lang, text in dict.fromkeys(rows) if (r, lang, text) not in existing
    )


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_embedding_vectors")]

    operations = [migrations.RunPython(add_missing, migrations.RunPython.noop)]
