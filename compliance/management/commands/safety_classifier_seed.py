"""Write (or check) ``compliance/data/safety_classifier_seed.npz``: the vectors of the seed safety exemplars and
the classifier head trained on them.

Run after editing ``compliance/data/safety_exemplars.csv`` or the training settings. Without the file, or with a
stale one, the classifier still gives the same verdicts, but embeds the missing exemplars (about 10-20 ms each)
and trains its heads (about 10 s) at first use in every process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.safety import EXEMPLAR_COLUMNS, EXEMPLARS_PATH, read_csv_rows
from compliance.safety_classifier import (
    SEED_PATH,
    ExemplarClassifier,
    SeedFileError,
    read_seed_file,
    write_seed_file,
)


class Command(BaseCommand):
    help = "embed the seed safety exemplars and train the classifier head into safety_classifier_seed.npz (--check)"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="fail unless the file is valid and current")
        parser.add_argument("--file", default=str(SEED_PATH))

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        rows = read_csv_rows(EXEMPLARS_PATH, EXEMPLAR_COLUMNS)
        labels, texts = [r[0] for r in rows], [r[2] for r in rows]
        if options["check"]:
            try:
                read_seed_file(path)
            except SeedFileError as exc:
                raise CommandError(str(exc)) from exc
            classifier = ExemplarClassifier.build(labels, texts, seed_path=path)
            if classifier.sources.seed != len(classifier.texts) or classifier.sources.head != "seed":
                raise CommandError(f"{path.name} is stale ({classifier.sources}): run manage.py safety_classifier_seed")
            self.stdout.write(f"{path.name} covers all {len(classifier.texts)} seed exemplars and their head")
            return
        started = time.monotonic()
        classifier = write_seed_file(labels, texts, path)
        head = classifier.head
        self.stdout.write(
            f"wrote {len(classifier.texts)} exemplars to {path} in {time.monotonic() - started:.1f} s; "
            f"threshold {head.threshold:.3f}, gate {head.gate:.3f}; cross-validated recall {head.cv_recall:.3f} "
            f"(in the right category {head.cv_category_recall:.3f}) at {head.cv_benign_fpr:.3f} benign false positives"
        )
