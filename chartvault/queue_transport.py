"""The embedded queue: kombu's SQLAlchemy transport on a SQLite file, polled faster.

kombu polls its virtual transports once a second; a document crosses the queue
three times (document, pages, finish), so a clerk waiting on ``ingest --wait``
would pay seconds of pure polling. A SQLite read every 0.1 s is cheap.
kombu hands the SQLAlchemy transport's options to ``create_engine``, so the
interval cannot be passed as a transport option: it is a subclass, registered
under the URL scheme ``sqlite-queue+sqlite:///...``.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

SCHEME = "sqlite-queue"


class Transport(SQLAlchemyTransport):
    polling_interval = 0.1


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
