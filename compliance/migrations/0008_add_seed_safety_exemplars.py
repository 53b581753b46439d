"""Add the seed exemplars written since 0006 (the classifier's third round) to the shared base set.

Same rule as 0006, whose function this reuses: only missing rows are added, and published versions keep their
own pinned snapshot.
"""

import importlib

from django.db import migrations

_extend = importlib.import_module("compliance.migrations.0006_extend_safety_exemplars")


class Migration(migrations.Migration):
    dependencies = [("compliance", "0007_policyversion_safety_layer_caps")]

    operations = [migrations.RunPython(_extend.add_missing, migrations.RunPython.noop)]
