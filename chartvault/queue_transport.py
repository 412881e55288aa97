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
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport
from sqlalchemy.exc import IntegrityError, OperationalError

SCHEME = "sqlite-queue"
_TABLE_ATTEMPTS = 3  # kombu has two tables: another process can win on each, once


class Channel(SQLAlchemyChannel):
    def _open(self):  # noqa: ANN202 - kombu's engine and session maker
        for _ in range(_TABLE_ATTEMPTS - 1):
            try:
                return super()._open()
            except OperationalError as exc:  # another process created a table meanwhile:
                if "already exists" not in str(exc):  # kombu's next look sees it
                    raise
        return super()._open()

    def _get_or_create(self, queue: str):  # noqa: ANN202 - kombu's queue row
        try:
            return super()._get_or_create(queue)
        except IntegrityError:  # another process inserted it between our look and insert
            self.session.rollback()
            return self.session.query(self.queue_cls).filter(
                self.queue_cls.name == queue).one()


class Transport(SQLAlchemyTransport):
    Channel = Channel
    polling_interval = 0.1


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
