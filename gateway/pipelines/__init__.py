"""The steps a submitted request runs through, each run by a Celery task.

Every step advances recorded state, so a redelivered or retried task resumes instead of repeating
work: a slot that already has a record is skipped, and a step whose request has already moved on
returns without doing anything.
"""

from .common import request_fail
from .gates import gates_execute
from .generation import (
    chunk_ranges,
    generation_chunk_execute,
    generation_chunk_give_up,
    generation_finish_if_complete,
    generation_start,
)
from .release import aigc_label, release_execute
from .screening import screening_execute

__all__ = [
    "aigc_label",
    "chunk_ranges",
    "gates_execute",
    "generation_chunk_execute",
    "generation_chunk_give_up",
    "generation_finish_if_complete",
    "generation_start",
    "release_execute",
    "request_fail",
    "screening_execute",
]
