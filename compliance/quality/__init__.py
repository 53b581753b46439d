"""Quality gates over generated records: one module per gate, ``runner.run_quality_suite`` runs them all.

Pure Python (no Django models): the gateway turns its records into ``QualityItem`` objects, and the
``quality_check`` command does the same from a JSONL file.
"""
