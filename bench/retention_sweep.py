"""Retention sweep benchmark: the nightly due query over a big embedded catalog.

    .venv/bin/python bench/retention_sweep.py --documents 1000000
    .venv/bin/python bench/retention_sweep.py --home /tmp/cv-bench   # again, same rows

Builds a fresh SQLite catalog (migrated by Chartvault itself, so it has the
real schema and the ``(hold, retain_until)`` index), bulk-loads synthetic
document rows (deterministic, ``--seed``): retain-until dates spread over
2015-2064, ``--held`` of the patients under an active legal hold, a few
documents already destroyed. Then times the dry run (``retention due``: the
query, every due row fetched) and the proposal (``retention propose``: the
same query plus one destruction item per due document). Target: <= 10 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chartvault.db import engine_for, session_scope  # noqa: E402
from chartvault.settings import load_settings  # noqa: E402

TYPES = ("progress_note", "discharge_summary", "lab_result", "radiology_image", "consent")
BATCH = 50_000


def load(settings, documents: int, patients: int, held_fraction: float, seed: int) -> dict:  # noqa: ANN001
    from chartvault.policy import load_policy

    version = load_policy(settings).version  # rows as the policy in force left them
    rng = random.Random(seed)
    now = datetime.now(UTC).isoformat(sep=" ")
    raw = engine_for(settings).raw_connection()
    cursor = raw.cursor()
    cursor.execute("INSERT INTO batch (id, created_by, created_at, source, status) "
                   "VALUES ('bench', 'bench', ?, 'cli', 'done')", (now,))
    mrns = [f"TST{n:07d}" for n in range(patients)]
    cursor.executemany("INSERT INTO patient (mrn, name, created_at) VALUES (?, '', ?)",
                       [(m, now) for m in mrns])
    held = rng.sample(mrns, int(patients * held_fraction))
    cursor.execute("INSERT INTO legal_hold (id, case_id, reason, scope, placed_by, placed_at) "
                   "VALUES ('benchhold', 'BENCH', 'bench', '{}', 'bench', ?)", (now,))
    cursor.executemany("INSERT INTO retention_hold_scope (hold_id, kind, value, active) "
                       "VALUES ('benchhold', 'mrn', ?, 1)", [(m,) for m in held])
    held_set = set(held)
    start, span = date(2015, 1, 1).toordinal(), 50 * 365
    columns = ("id, batch_id, mrn, doc_type, service_date, facility, filename, mime, "
               "original_key, original_version, sha256, size, page_count, status, "
               "needs_review, retention_class, retain_until, policy_version, hold, restricted, "
               "version, created_at, updated_at, destroyed_at")
    sql = f"INSERT INTO document ({columns}) VALUES ({', '.join('?' * 24)})"
    for first in range(0, documents, BATCH):
        rows = []
        for n in range(first, min(first + BATCH, documents)):
            mrn = mrns[rng.randrange(patients)]
            until = date.fromordinal(start + rng.randrange(span))
            service = until - timedelta(days=3652)
            destroyed = now if rng.random() < 0.01 else None
            rows.append((f"{n:032x}", "bench", mrn, rng.choice(TYPES), service.isoformat(), "",
                         "chart.pdf", "application/pdf", f"documents/{n:032x}/original.pdf",
                         "v1", "0" * 64, 1000, 3, "destroyed" if destroyed else "indexed", 0,
                         "health_record", until.isoformat(), version, int(mrn in held_set), 0,
                         1, now, now, destroyed))
        cursor.executemany(sql, rows)
    raw.commit()
    cursor.execute("ANALYZE")
    raw.commit()
    raw.close()
    return {"patients": patients, "held_patients": len(held)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=1_000_000)
    parser.add_argument("--patients", type=int, default=200_000)
    parser.add_argument("--held", type=float, default=0.02, help="fraction of patients held")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--home", type=Path, help="CHARTVAULT_HOME (default: a temp dir)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="cv-retention-bench-"))
    settings = load_settings({"CHARTVAULT_HOME": str(home)})
    from retention.destruction import due_documents, get_destruction, propose

    with session_scope(settings) as session:
        existing = session.connection().exec_driver_sql("SELECT count(*) FROM document").scalar()
    if existing:  # --home of an earlier run: measure again on the same rows
        with session_scope(settings) as session:
            session.connection().exec_driver_sql("DELETE FROM retention_destruction_item")
            session.connection().exec_driver_sql("DELETE FROM destruction")
        print(f"reusing {existing:,} documents in {home}")
    else:
        t0 = time.perf_counter()
        facts = load(settings, args.documents, args.patients, args.held, args.seed)
        loaded = time.perf_counter() - t0
        print(f"loaded {args.documents:,} documents, {facts['patients']:,} patients "
              f"({facts['held_patients']:,} held) in {loaded:.1f} s  [{home}]")
    t0 = time.perf_counter()
    due = due_documents(settings)
    dry = time.perf_counter() - t0
    print(f"retention due (dry run): {len(due):,} due in {dry:.2f} s")
    t0 = time.perf_counter()
    proposal = propose(settings, actor="bench", with_items=False)  # as the nightly task does
    proposed = time.perf_counter() - t0
    print(f"retention propose (the nightly sweep: stale check + due query + list copied): "
          f"list {proposal.id if proposal else None} in {proposed:.2f} s")
    t0 = time.perf_counter()
    listed = get_destruction(settings, proposal.id).items if proposal else ()
    print(f"reading the list back: {len(listed):,} items in {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    again = due_documents(settings)
    after = time.perf_counter() - t0
    print(f"retention due after the proposal: {len(again):,} due in {after:.2f} s")
    with session_scope(settings) as session:
        plan = session.connection().exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM document WHERE hold = 0 AND retain_until < ?",
            (date.today().isoformat(),)).fetchall()
    print("plan:", "; ".join(row[-1] for row in plan))
    print(f"target <= 10 s for the sweep: {'met' if proposed <= 10 else 'MISSED'} "
          f"({proposed:.2f} s; dry run {dry:.2f} s)")


if __name__ == "__main__":
    main()
