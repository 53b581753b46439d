"""Pin each published policy version's safety lexicon, and add the seed entries added since 0003.

Before this migration every version screened with the shared base set, so editing the base set changed
what a published version did. Now a published (locked) version owns a snapshot of its rules and the
fingerprint it was published with. Versions already locked get a snapshot of the base set as it stands
before the new seed entries are added, so their behaviour does not change.
"""

import csv
import hashlib
from pathlib import Path

from django.db import migrations, models

DATA = Path(__file__).resolve().parent.parent / "data"


def _fingerprint(terms, exemplars):
    # Must equal compliance.safety.rules_fingerprint (migrations do not import app code that may change).
    lines = sorted(
        [f"term\t{r}\t{lang}\t{value.strip()}\n" for r, lang, value in terms]
        + [f"exemplar\t{r}\t{lang}\t{value.strip()}\n" for r, lang, value in exemplars]
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def pin_and_extend(apps, schema_editor):
    version_model = apps.get_model("compliance", "PolicyVersion")
    term_model = apps.get_model("compliance", "SafetyTerm")
    exemplar_model = apps.get_model("compliance", "SafetyExemplar")
    base_terms = list(term_model.objects.filter(policy_version=None).values_list("risk_code", "lang", "term"))
    base_exemplars = list(
        exemplar_model.objects.filter(policy_version=None).values_list("risk_code", "lang", "text")
    )
    for version in version_model.objects.filter(locked_at__isnull=False, lexicon_fingerprint=""):
        own_terms = set(term_model.objects.filter(policy_version=version).values_list("risk_code", "lang", "term"))
        term_model.objects.bulk_create(
            term_model(policy_version=version, risk_code=r, lang=lang, term=t)
            for r, lang, t in dict.fromkeys(base_terms) if (r, lang, t) not in own_terms
        )
        own_exemplars = set(
            exemplar_model.objects.filter(policy_version=version).values_list("risk_code", "lang", "text")
        )
        exemplar_model.objects.bulk_create(
            exemplar_model(policy_version=version, risk_code=r, lang=lang, text=t)
            for r, lang, t in base_exemplars if (r, lang, t) not in own_exemplars
        )
        terms = term_model.objects.filter(policy_version=version).values_list("risk_code", "lang", "term")
        exemplars = exemplar_model.objects.filter(policy_version=version).values_list("risk_code", "lang", "text")
        # .update(): the historical model has no lock check, and this is the pinning write itself.
        version_model.objects.filter(pk=version.pk).update(lexicon_fingerprint=_fingerprint(terms, exemplars))
    seen = set(base_terms)
    with (DATA / "safety_lexicon.csv").open(encoding="utf-8", newline="") as handle:
        new = []
        for row in csv.DictReader(handle):
            key = (row["risk_code"], row["lang"], row["term"].strip())
            if key not in seen:
                seen.add(key)
                new.append(term_model(policy_version=None, risk_code=key[0], lang=key[1], term=key[2]))
    term_model.objects.bulk_create(new)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0003_seed_safety_lexicon")]

    operations = [
        migrations.AddField(
            model_name="policyversion",
            name="lexicon_fingerprint",
            field=models.CharField(
                blank=True, default="", max_length=64,
                help_text="sha256 of the safety terms and exemplars the version was published with (set when it "
                "locks); screening refuses to run the version if its rule set no longer matches.",
            ),
        ),
        migrations.RunPython(pin_and_extend, migrations.RunPython.noop),
    ]
