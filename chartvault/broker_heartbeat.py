"""Redis: a live worker keeps the messages it holds from being handed to another.

Redis gives an unacknowledged message to another worker once ``visibility_timeout``
seconds have passed since its delivery (kombu's ``unacked_index``, a sorted set of
delivery times). With an hour, a worker killed with ``kill -9`` stranded its messages
for an hour; with a short timeout, a page that waits long in a worker's reserve (or an
OCR page that takes minutes) would be handed out twice while its worker is alive.

So the timeout is short (``CHARTVAULT_BROKER_VISIBILITY_TIMEOUT``, 60 s) and every live
worker renews the delivery time of each message it holds, every quarter of it, from the
consumer's own event loop (the thread that owns the channel). A dead worker renews
nothing: its messages go back to the queue within the timeout plus one restore sweep
(``unacked_restore_interval``, 10 s), marked redelivered.
"""

from __future__ import annotations

import logging
import time

from celery import bootsteps

log = logging.getLogger(__name__)


def renew(channel) -> int:  # noqa: ANN001 - kombu's Redis channel
    """Renew the delivery time of every message this channel holds; how many."""
    qos = channel.qos  # kombu keeps no public list: acknowledged tags wait in _dirty
    tags = [tag for tag in list(qos._delivered) if tag not in qos._dirty]  # noqa: SLF001
    if not tags:
        return 0
    now = time.time()
    with channel.conn_or_acquire() as client:
        # xx: only messages still unacknowledged (an ack removes them from the index)
        client.zadd(channel.unacked_index_key, dict.fromkeys(tags, now), xx=True)
    return len(tags)


class UnackedHeartbeat(bootsteps.StartStopStep):
    """A consumer step: renews the held messages every ``visibility_timeout / 4`` s."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent, **kwargs) -> None:  # noqa: ANN001
        super().__init__(parent, **kwargs)
        self.timer = None

    def start(self, consumer) -> None:  # noqa: ANN001
        channel = consumer.task_consumer.channel
        if not hasattr(channel, "unacked_index_key"):  # not Redis: nothing to renew
            return
        every = max(1.0, channel.visibility_timeout / 4)
        self.timer = consumer.timer.call_repeatedly(every, self._beat, (channel,),
                                                    priority=10)

    def _beat(self, channel) -> None:  # noqa: ANN001
        try:
            renew(channel)
        except Exception:  # noqa: BLE001 - an outage: the consumer reconnects on its own
            log.warning("could not renew held messages", exc_info=True)

    def stop(self, consumer) -> None:  # noqa: ANN001
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    shutdown = stop
