"""Per-version caps on what a safety layer's hit may do, and the exemplars added for the classifier.

New versions get ``DEFAULT_SAFETY_LAYER_CAPS`` (classifier and LLM judge flag, never block alone). A version that
has already screened data (locked) must keep doing what it did, so it gets explicit ``block`` caps, which limit
nothing. Drafts have screened nothing yet and take the new default. The seed exemplars missing from the shared
base set are added, as in 0006; published versions keep their own pinned snapshot.
"""

import importlib

from django.db import migrations, models

import compliance.models
import compliance.policy_schema

UNCAPPED = {"classifier": "block", "llm_judge": "block"}


def keep_published_versions_uncapped(apps, schema_editor):
    version_model = apps.get_model("compliance", "PolicyVersion")
    version_model.objects.filter(locked_at__isnull=False).update(safety_layer_caps=UNCAPPED)


def add_missing_exemplars(apps, schema_editor):
    importlib.import_module("compliance.migrations.0006_extend_safety_exemplars").add_missing(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0006_extend_safety_exemplars")]

    operations = [
        migrations.AddField(
            model_name="policyversion",
            name="safety_layer_caps",
            field=models.JSONField(
                default=compliance.models._default_safety_layer_caps,
                help_text="Layer -> the most one of its hits may do (block, flag or allow), whatever the safety "
                "actions say; a layer not named is not limited. Default: classifier and llm_judge flag for review, "
                "never block alone.",
                validators=[compliance.policy_schema.validate_safety_layer_caps],
            ),
        ),
        migrations.RunPython(keep_published_versions_uncapped, migrations.RunPython.noop),
        migrations.RunPython(add_missing_exemplars, migrations.RunPython.noop),
    ]
