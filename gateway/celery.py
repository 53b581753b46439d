"""The Celery application. Workers start with `celery -A gateway worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")

app = Celery("gateway")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _make_broker_folders(sender: Celery, **_: object) -> None:
    # The filesystem transport expects its folders to exist.
    from pathlib import Path

    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        folder = sender.conf.broker_transport_options.get(key)
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
