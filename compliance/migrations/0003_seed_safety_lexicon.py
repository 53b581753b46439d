"""Load the seed safety lexicon and exemplars (all 31 GB/T 45654 risks, Chinese and English) as the base set."""

import csv
from pathlib import Path

from django.db import migrations

DATA = Path(__file__).resolve().parent.parent / "data"


def _rows(name):
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def seed(apps, schema_editor):
    term_model = apps.get_model("compliance", "SafetyTerm")
    exemplar_model = apps.get_model("compliance", "SafetyExemplar")
    seen = set()
    terms = []
    for row in _rows("safety_lexicon.csv"):
        key = (row["risk_code"], row["lang"], row["term"].strip())
        if key not in seen:
            seen.add(key)
            terms.append(term_model(policy_version=None, risk_code=key[0], lang=key[1], term=key[2]))
    term_model.objects.bulk_create(terms)
    exemplar_model.objects.bulk_create(
        exemplar_model(policy_version=None, risk_code=row["risk_code"], lang=row["lang"], text=row["text"].strip())
        for row in _rows("safety_exemplars.csv")
    )


def unseed(apps, schema_editor):
    apps.get_model("compliance", "SafetyTerm").objects.filter(policy_version__isnull=True).delete()
    apps.get_model("compliance", "SafetyExemplar").objects.filter(policy_version__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("compliance", "0002_policy_v2_safety_lexicon")]

    operations = [migrations.RunPython(seed, unseed)]
