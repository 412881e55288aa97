"""The embedded queue: kombu's SQLAlchemy transport on a SQLite file, polled faster,
and safe when two processes declare the same queue at once.

kombu polls its virtual transports once a second; a document crosses the queue
three times (document, pages, finish), so a clerk waiting on ``ingest --wait``
would pay seconds of pure polling. A SQLite read every 0.1 s is cheap.
kombu hands the SQLAlchemy transport's options to ``create_engine``, so the
interval cannot be passed as a transport option: it is a subclass, registered
under the URL scheme ``sqlite-queue+sqlite:///...``.

kombu makes a queue's row on first use behind a lock of its own process only: a
worker starting while a command sends its first message (``ingest --wait`` starts
both) could both find no row and both insert it, and the loser's worker stopped on
the unique constraint ("Unrecoverable error: IntegrityError"), leaving the command
waiting for pages nobody read. Here the loser takes the winner's row. The same holds
for the queue's tables on a new queue file: kombu creates them on first use, and the
process that finds them made by the other meanwhile looks again instead of stopping.

kombu keeps a delivered message as a row with ``visible`` false, acknowledged or not,
and gives an unacknowledged one back only when its worker shuts down cleanly: a worker
killed with ``kill -9`` stranded its messages until the ``requeue_stuck`` sweep, 40
minutes on. Here each delivery is claimed in a table of ours (the message, the
consumer's process id and start time); an acknowledged message's row is deleted, and
a claim whose process is gone (or is another process now) makes its message visible
again. Every consumer looks for such claims when it starts and every
``SWEEP_SECONDS`` while it polls. The queue file is one machine's (that is what the
embedded queue is), so a process id says who holds a message.
"""

from __future__ import annotations

import logging
import os
import time
from json import dumps, loads
from pathlib import Path
from queue import Empty

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport
from kombu.utils.encoding import bytes_to_str
from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, Table, delete, select, text
from sqlalchemy.exc import IntegrityError, OperationalError

log = logging.getLogger(__name__)

SCHEME = "sqlite-queue"
_TABLE_ATTEMPTS = 3  # kombu has two tables: another process can win on each, once
SWEEP_SECONDS = 15.0  # how often a polling consumer looks for claims of dead processes
MESSAGE_ID = "chartvault_message_id"  # the row a delivered message came from

_claims_metadata = MetaData()
claims = Table("chartvault_claim", _claims_metadata,
               Column("message_id", Integer, primary_key=True),
               Column("pid", Integer, nullable=False),
               Column("started", BigInteger, nullable=False),  # /proc start time, clock ticks
               Column("claimed_at", Float, nullable=False))


def process_start(pid: int) -> int | None:
    """The start time of a live process (clock ticks since boot), None when there is no
    such process or it has exited (a zombie holds no message)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


_OWN_START = process_start(os.getpid()) or 0


class Channel(SQLAlchemyChannel):
    _swept_at = 0.0  # per channel: the first poll sweeps at once

    def _open(self):  # noqa: ANN202 - kombu's engine and session maker
        for attempt in range(_TABLE_ATTEMPTS):
            try:
                opened = super()._open()
                _claims_metadata.create_all(opened[0])
                return opened
            except OperationalError as exc:  # another process created a table meanwhile:
                if "already exists" not in str(exc) or attempt == _TABLE_ATTEMPTS - 1:
                    raise  # kombu's (and our) next look sees it
        raise AssertionError("unreachable")

    def _get(self, queue: str):  # noqa: ANN202 - kombu's message payload
        """kombu's claim of the oldest visible message, recorded as this process's."""
        if time.monotonic() - self._swept_at > SWEEP_SECONDS:
            self._swept_at = time.monotonic()
            release_dead_claims(self.session, self.message_cls)
        obj = self._get_or_create(queue)
        if self.session.bind.name == "sqlite":
            self.session.execute(text("BEGIN IMMEDIATE TRANSACTION"))
        try:
            msg = (self.session.query(self.message_cls).with_for_update()
                   .filter(self.message_cls.queue_id == obj.id)
                   .filter(self.message_cls.visible.is_not(False))
                   .order_by(self.message_cls.sent_at).order_by(self.message_cls.id)
                   .limit(1).first())
            if msg is None:
                raise Empty()
            msg.visible = False
            self.session.execute(delete(claims).where(claims.c.message_id == msg.id))
            self.session.execute(claims.insert().values(
                message_id=msg.id, pid=os.getpid(), started=_OWN_START,
                claimed_at=time.time()))
            payload = loads(bytes_to_str(msg.payload))
            payload.setdefault("properties", {})[MESSAGE_ID] = msg.id
            return payload
        finally:
            self.session.commit()

    def basic_ack(self, delivery_tag, multiple=False) -> None:  # noqa: ANN001
        message_id = self._row_of(delivery_tag)
        super().basic_ack(delivery_tag, multiple=multiple)
        self._forget(message_id)

    def _restore(self, message) -> None:  # noqa: ANN001 - kombu puts it back as a new row
        super()._restore(message)
        self._forget((message.properties or {}).get(MESSAGE_ID))

    def _row_of(self, delivery_tag) -> int | None:  # noqa: ANN001
        try:
            return (self.qos.get(delivery_tag).properties or {}).get(MESSAGE_ID)
        except KeyError:
            return None

    def _forget(self, message_id: int | None) -> None:
        """The row and claim of a message that was acknowledged or put back. A connection
        of its own: Celery acknowledges from another thread than the one polling on the
        channel's session (sharing it broke the session's state)."""
        if message_id is None:
            return
        messages = self.message_cls.__table__
        with self._open()[0].begin() as connection:
            connection.execute(delete(claims).where(claims.c.message_id == message_id))
            connection.execute(delete(messages).where(messages.c.id == message_id))

    def _get_or_create(self, queue: str):  # noqa: ANN202 - kombu's queue row
        try:
            return super()._get_or_create(queue)
        except IntegrityError:  # another process inserted it between our look and insert
            self.session.rollback()
            return self.session.query(self.queue_cls).filter(
                self.queue_cls.name == queue).one()


def release_dead_claims(session, message_cls) -> int:  # noqa: ANN001
    """Make the messages claimed by processes that are gone visible again; how many."""
    dead = [row.message_id for row in session.execute(select(claims)).all()
            if process_start(row.pid) != row.started]
    for message_id in dead:
        message = session.get(message_cls, message_id)
        if message is not None:
            payload = loads(bytes_to_str(message.payload))
            # as kombu marks a message it puts back: the task can tell it ran before
            payload.setdefault("headers", {})["redelivered"] = True
            payload.setdefault("properties", {}).setdefault("delivery_info", {})[
                "redelivered"] = True
            message.payload = dumps(payload)
            message.visible = True
        session.execute(delete(claims).where(claims.c.message_id == message_id))
    session.commit()
    if dead:
        log.warning("messages of a worker that died given back to the queue",
                    extra={"count": len(dead)})
    return len(dead)


class Transport(SQLAlchemyTransport):
    Channel = Channel
    polling_interval = 0.1


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
