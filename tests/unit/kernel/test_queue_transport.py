"""The embedded queue (``chartvault.queue_transport``) when two processes make its
tables or declare one queue at the same moment: a worker starting while a command
sends (``ingest --wait``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import event
from sqlalchemy.engine import Engine

from chartvault import queue_transport


# kombu's own table mapping uses a loader SQLAlchemy 2.1 deprecates; not ours to change.
@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_a_queue_row_another_process_made_meanwhile_is_taken_not_fatal(tmp_path: Path):
    db = tmp_path / "queue.sqlite3"
    with Connection(f"{queue_transport.SCHEME}+sqlite:///{db}") as conn:
        channel = conn.default_channel
        other = sqlite3.connect(db)  # the other process
        raced = []

        def insert_first(_conn, _cursor, statement: str, *_: object) -> None:
            # Between this process finding no row and inserting its own, the other one
            # inserts and commits the same queue.
            if statement.startswith("INSERT INTO kombu_queue") and not raced:
                other.execute("INSERT INTO kombu_queue (name) VALUES ('chartvault')")
                other.commit()
                raced.append(statement)

        event.listen(channel.session.get_bind(), "before_cursor_execute", insert_first)
        queue = conn.SimpleQueue("chartvault")
        queue.put({"page": 1})
        assert queue.get(timeout=5).payload == {"page": 1}
        assert raced
        rows = other.execute("SELECT count(*) FROM kombu_queue WHERE name = 'chartvault'")
        assert rows.fetchone() == (1,)
        queue.close()
        other.close()


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_queue_tables_another_process_made_meanwhile_are_used_not_fatal(tmp_path: Path):
    db = tmp_path / "queue.sqlite3"
    other = sqlite3.connect(db)  # the other process, making the tables of a new queue file
    raced = []

    def create_first(_conn, _cursor, statement: str, *_: object) -> None:
        # Between this process finding no tables and creating them, the other one
        # creates the first.
        if statement.lstrip().startswith("CREATE TABLE kombu_queue") and not raced:
            other.execute(statement)
            other.commit()
            raced.append(statement)

    event.listen(Engine, "before_cursor_execute", create_first)
    try:
        with Connection(f"{queue_transport.SCHEME}+sqlite:///{db}") as conn:
            queue = conn.SimpleQueue("chartvault")
            queue.put({"page": 2})
            assert queue.get(timeout=5).payload == {"page": 2}
            queue.close()
    finally:
        event.remove(Engine, "before_cursor_execute", create_first)
    assert raced
    tables = {name for (name,) in other.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'table'")}
    assert {"kombu_queue", "kombu_message"} <= tables
    other.close()


@pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")
def test_a_message_claimed_by_a_dead_process_comes_back_marked_redelivered(tmp_path: Path):
    import subprocess
    import sys

    db = tmp_path / "queue.sqlite3"
    url = f"{queue_transport.SCHEME}+sqlite:///{db}"
    with Connection(url) as conn:
        conn.SimpleQueue("chartvault").put({"page": 3})
    # another process takes the message and dies without acknowledging it (kill -9)
    taker = ("import os, sys; from kombu import Connection; import chartvault.queue_transport;"
             f"m = Connection({url!r}).SimpleQueue('chartvault').get(timeout=5);"
             "print(m.payload, flush=True); os._exit(0)")
    done = subprocess.run([sys.executable, "-c", taker], capture_output=True, text=True,
                          timeout=60)
    assert "'page': 3" in done.stdout, done.stderr
    held = sqlite3.connect(db)
    assert held.execute("SELECT count(*) FROM chartvault_claim").fetchone() == (1,)
    assert held.execute("SELECT visible FROM kombu_message").fetchall() == [(0,)]
    with Connection(url) as conn:  # main's kombu left it invisible for good
        queue = conn.SimpleQueue("chartvault")
        message = queue.get(timeout=5)
        assert message.payload == {"page": 3}
        assert message.delivery_info.get("redelivered") is True
        message.ack()
        queue.close()
    # acknowledged: its row and claim are gone (kombu kept every row it ever delivered)
    assert held.execute("SELECT count(*) FROM kombu_message").fetchone() == (0,)
    assert held.execute("SELECT count(*) FROM chartvault_claim").fetchone() == (0,)
    held.close()


def test_a_live_process_keeps_its_claim(tmp_path: Path):
    import os

    start = queue_transport.process_start(os.getpid())
    assert start is not None and start == queue_transport._OWN_START  # noqa: SLF001
    assert queue_transport.process_start(2**22 + 12345) is None  # no such process
