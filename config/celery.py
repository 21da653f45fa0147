"""The Celery application. Settings come from Django's (CELERY_* names), tasks from the apps."""

import os

from celery import Celery, bootsteps
from celery.utils.dispatch import Signal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consilium")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

#: Sent in a worker's main process (sender: its consumer) each time it consumes again after
#: it lost the broker. Its first start is ``celery.signals.worker_ready``, sent only once:
#: the apps connect their recovery sweeps to both, for what was requested while the broker
#: was away (never sent) or left by a worker that died meanwhile.
broker_reconnected = Signal(name="broker_reconnected")


class AnnounceReconnection(bootsteps.StartStopStep):
    """Sends ``broker_reconnected`` from its second start on: the consumer starts its steps
    again on every new broker connection."""

    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.starts = 0

    def start(self, parent):
        self.starts += 1
        if self.starts > 1:
            # Celery's Signal.send logs a receiver's exception and goes on.
            broker_reconnected.send(sender=parent)


app.steps["consumer"].add(AnnounceReconnection)
