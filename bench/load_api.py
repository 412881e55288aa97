"""Load: N concurrent uploaders x M charts each through the HTTP API, with search
latency measured while the uploads and the OCR run.

Starts a real ``chartvault serve`` (cheroot, plus a worker and beat) on a fresh
CHARTVAULT_HOME, makes an admin API token, uploads synthetic one-page charts
(POST /api/batches, one chart a request, every chart distinct), probes
GET /api/search all along, waits until every chart is indexed, then checks the
catalog, the store and the index: all archived, all searchable, no duplicates.

    .venv/bin/python bench/load_api.py                       # embedded defaults
    .venv/bin/python bench/load_api.py --servers --start-rgw # PostgreSQL + Redis + RGW

Traffic goes to 127.0.0.1 only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLI = [sys.executable, "-m", "chartvault"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(_pct(values, 0.5) * 1000, 1),
            "p95_ms": round(_pct(values, 0.95) * 1000, 1),
            "max_ms": round(max(values) * 1000, 1) if values else None,
            "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else None}


def make_charts(folder: Path, count: int) -> list[tuple[Path, str]]:
    from chartvault.synthetic import fake_patients, make_chart, spec_for

    folder.mkdir(parents=True, exist_ok=True)
    charts = []
    for i, patient in enumerate(fake_patients(count, seed=4242)):
        chart = make_chart(spec_for(patient, seed=9000 + i, pages=1, paragraphs=1),
                           folder / f"load-{i:04d}.pdf", fmt="pdf", dpi=150)
        charts.append((chart.path, patient.mrn))
    return charts


def server_env(args: argparse.Namespace, home: Path, stack: list) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTVAULT_")}
    env.update({"CHARTVAULT_HOME": str(home), "CHARTVAULT_OCR_DPI": "150",
                "OMP_THREAD_LIMIT": "1",
                # one account stands in for every scanning station of the run
                "CHARTVAULT_MAX_CONCURRENT_UPLOADS": str(max(2, args.uploaders))})
    if not args.servers:
        return env
    import psycopg

    name = f"chartvault_load_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres_admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    stack.append(("db", name))
    env["CHARTVAULT_DATABASE_URL"] = args.postgres_admin.rsplit("/", 1)[0] + "/" + name
    env["CHARTVAULT_BROKER_URL"] = args.redis_url
    if args.start_rgw:
        from tests.support.rgw import RgwCluster

        cluster = RgwCluster()
        endpoint = cluster.start()
        stack.append(("rgw", cluster))
        env.update({"CHARTVAULT_OBJECT_STORE": "s3",
                    "CHARTVAULT_S3_ENDPOINT": endpoint.url,
                    "CHARTVAULT_S3_ACCESS_KEY": endpoint.access_key,
                    "CHARTVAULT_S3_SECRET_KEY": endpoint.secret_key,
                    "CHARTVAULT_S3_BUCKET": f"load-{uuid.uuid4().hex[:8]}"})
    return env


def token_for(env: dict[str, str]) -> str:
    subprocess.run([*CLI, "users", "add", "loadtester", "--role", "admin", "--password-stdin"],
                   input="load test password 123\n", text=True, env=env, check=True,
                   capture_output=True)
    done = subprocess.run([*CLI, "users", "token", "loadtester"], text=True, env=env,
                          check=True, capture_output=True)
    return done.stdout.strip().split()[-1]


def run(args: argparse.Namespace) -> dict:
    stack: list = []
    work = Path(tempfile.mkdtemp(prefix="chartvault-load-"))
    server = None
    try:
        env = server_env(args, work / "home", stack)
        total = args.uploaders * args.charts
        started = time.monotonic()
        charts = make_charts(work / "charts", total)
        generated = time.monotonic() - started
        token = token_for(env)
        port = _free_port()
        log = (work / "serve.log").open("wb")
        server = subprocess.Popen([*CLI, "serve", "--port", str(port), "--workers"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        http = urllib3.PoolManager(maxsize=args.uploaders + 4,
                                   headers={"Authorization": f"Bearer {token}"},
                                   timeout=urllib3.Timeout(connect=5, read=300),
                                   retries=False)
        deadline = time.monotonic() + 60
        while True:
            try:
                if http.request("GET", base + "/healthz").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("serve did not answer /healthz within 60 s")
            time.sleep(0.3)

        upload_times: list[float] = []
        failures: list[str] = []
        documents: dict[str, str] = {}  # document id -> mrn
        lock = threading.Lock()

        def uploader(index: int) -> None:
            mine = charts[index * args.charts:(index + 1) * args.charts]
            for path, mrn in mine:
                t0 = time.perf_counter()
                response = http.request("POST", base + "/api/batches", fields={
                    "mrn": mrn, "type": "progress_notes",
                    "files": (path.name, path.read_bytes(), "application/pdf")})
                elapsed = time.perf_counter() - t0
                with lock:
                    upload_times.append(elapsed)
                    if response.status != 202:
                        failures.append(f"{response.status} {response.data[:200]!r}")
                        continue
                    for doc in json.loads(response.data)["documents"]:
                        if doc["status"] == "queued":
                            documents[doc["document_id"]] = mrn
                        else:
                            failures.append(f"{doc['status']} {doc.get('code')}")

        search_times: list[float] = []
        search_errors: list[int] = []
        stop = threading.Event()

        def prober() -> None:
            words = ("patient", "metformin", "hypertension", "knee")
            i = 0
            while not stop.is_set() and i < 100_000:
                t0 = time.perf_counter()
                response = http.request("GET", base + "/api/search",
                                        fields={"q": words[i % len(words)], "limit": "20"})
                search_times.append(time.perf_counter() - t0)
                if response.status != 200:
                    search_errors.append(response.status)
                i += 1
                time.sleep(args.probe_interval)

        probe = threading.Thread(target=prober, daemon=True)
        probe.start()
        t_upload = time.monotonic()
        with ThreadPoolExecutor(args.uploaders) as pool:
            list(pool.map(uploader, range(args.uploaders)))
        upload_wall = time.monotonic() - t_upload
        searches_during_upload = len(search_times)

        from chartvault.catalog import statuses
        from chartvault.db import session_scope
        from chartvault.settings import load_settings

        settings = load_settings(env)
        ids = list(documents)
        deadline = time.monotonic() + args.timeout
        while True:
            with session_scope(settings) as session:
                current = statuses(session, ids)
            finished = [i for i, s in current.items() if s in ("indexed", "failed")]
            if len(finished) == len(ids) or time.monotonic() > deadline:
                break
            time.sleep(2)
        all_done = time.monotonic() - t_upload
        stop.set()
        probe.join(30)
        checks = verify(settings, http, base, documents)
        return {
            "mode": "servers" + (" + RGW" if args.start_rgw else "") if args.servers
            else "embedded",
            "uploaders": args.uploaders, "charts_each": args.charts, "charts": total,
            "generate_s": round(generated, 1),
            "accepted": len(documents), "upload_failures": failures[:10],
            "upload_wall_s": round(upload_wall, 1), "upload": _summary(upload_times),
            "uploads_per_s": round(len(upload_times) / upload_wall, 2),
            "all_indexed_s": round(all_done, 1),
            "pages_per_min": round(len(ids) / all_done * 60, 1) if all_done else None,
            "search_during_upload": _summary(search_times[:searches_during_upload]),
            "search_during_ocr": _summary(search_times[searches_during_upload:]),
            "search_errors": len(search_errors),
            **checks,
        }
    finally:
        if server is not None and server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        for kind, item in reversed(stack):
            if kind == "rgw":
                item.stop()
            elif kind == "db":
                from chartvault.db import dispose_all

                dispose_all()
                import psycopg

                with psycopg.connect(args.postgres_admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{item}" WITH (FORCE)')


def verify(settings, http: urllib3.PoolManager, base: str, documents: dict[str, str]) -> dict:  # noqa: ANN001
    """Catalog, store and index agree: every chart once, archived, indexed, searchable."""
    from sqlalchemy import func, select

    from archive import open_store
    from chartvault.db import session_scope
    from chartvault.models import Document, StoredObject
    from search import open_index

    with session_scope(settings) as session:
        rows = session.execute(select(Document.id, Document.status, Document.sha256,
                                      Document.original_key, Document.original_version)).all()
        original_dupes = session.execute(select(StoredObject.key).where(
            StoredObject.kind == "original").group_by(StoredObject.key).having(
            func.count() > 1)).all()
    store = open_store(settings)
    missing_originals = 0
    for _, _, sha, key, version in rows:
        if store.stat(key, version).sha256 != sha:
            missing_originals += 1
    indexed_ids = open_index(settings).document_ids()
    searchable = 0
    for document_id, mrn in list(documents.items()):
        response = http.request("GET", base + "/api/search",
                                fields={"q": "patient", "mrn": mrn, "limit": "5"})
        if response.status == 200 and document_id in {
                h["document_id"] for h in json.loads(response.data)["hits"]}:
            searchable += 1
    return {
        "documents": len(rows),
        "indexed": sum(1 for r in rows if r[1] == "indexed"),
        "failed": sum(1 for r in rows if r[1] == "failed"),
        "distinct_sha256": len({r[2] for r in rows}),
        "duplicate_originals": len(original_dupes),
        "originals_missing_or_altered": missing_originals,
        "in_index": len(indexed_ids & set(documents)),
        "searchable_by_mrn": searchable,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploaders", type=int, default=20)
    parser.add_argument("--charts", type=int, default=10, help="charts per uploader")
    parser.add_argument("--servers", action="store_true",
                        help="PostgreSQL + Redis (this machine's) instead of embedded")
    parser.add_argument("--start-rgw", action="store_true",
                        help="with --servers: a throw-away Ceph RGW as the object store")
    parser.add_argument("--postgres-admin", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--probe-interval", type=float, default=0.2)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    if args.uploaders * args.charts > 2000:
        raise SystemExit("at most 2000 charts a run")
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
