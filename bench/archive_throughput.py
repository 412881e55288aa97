"""Ingest throughput of the object stores against a plain write of the same bytes.

For 1, 10 and 50 MB files, in the same run:

- filesystem: ``FilesystemStore.put`` (SHA-256 checked, AES-256-GCM or not,
  trailer, fsync, rename, folder fsyncs) against a plain ``shutil.copyfileobj``
  + ``fsync`` into the same folder, and a crash-safe copy (folder, temp file,
  fsync, rename, folder fsyncs);
- s3 (Ceph RGW started for the run, or ``--s3-endpoint``): ``S3Store.put``
  (COMPLIANCE retention, SHA-256, streamed multipart) against a plain
  ``minio.put_object`` of the same file with its length known.

Each case is repeated, interleaved with the others; two tables are printed:
the median MB/s and the best run's MB/s (MB = 10^6 bytes), each with the
median CPU time of the process per run (all threads), since on a shared
machine the load distorts wall time. ``--get-latency`` instead measures small GETs
from RGW with and without ``tcp_nodelay`` (keep-alive vs new connections).
Usage::

    .venv/bin/python bench/archive_throughput.py [--repeat 7] [--no-s3]
    .venv/bin/python bench/archive_throughput.py --get-latency
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archive import FilesystemStore  # noqa: E402

SIZES_MB = (1, 10, 50)
# Each filesystem case's output is removed once timed, so that the page cache
# recycles memory: on this VM (virtio free page reporting) page cache grown
# into fresh memory costs the host ~2.5 us per 4 KiB page, which made a 50 MB
# copy take 170 ms (145 ms CPU) instead of 40 ms (20 ms). --keep-outputs keeps
# them, as before 2026-11-26.
KEEP_OUTPUTS = False
# Each size's cases start with one untimed put (since 2026-11-26 10:00 UTC), as the S3
# case always did: a process's first put starts the helper threads and page-faults
# the staging buffers (once per process, not per put). --cold-start leaves it out.
COLD_START = False


@dataclass(frozen=True)
class Rate:
    median: float  # MB/s of the median run
    best: float  # MB/s of the fastest run
    cpu_ms: float  # median CPU time of the process per run, every thread


def _rates(size: int, repeat: int, cases: dict[str, Callable[[int], object]]) -> dict[str, Rate]:
    """MB/s of each case, the cases interleaved so that they share the machine's load.
    A case may return the Path it wrote: removed after timing unless --keep-outputs."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    for n in range(repeat):
        order = list(cases.items())
        order = order[n % len(order):] + order[: n % len(order)]
        for name, run in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            written = run(n)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            if isinstance(written, Path) and not KEEP_OUTPUTS:
                _remove(written)
    return {name: Rate(size / statistics.median(t) / 1e6, size / min(t) / 1e6,
                       statistics.median(cpu[name]) * 1e3) for name, t in times.items()}


def _make_source(folder: Path, size_mb: int) -> tuple[Path, str]:
    path = folder / f"source-{size_mb}MB.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size_mb * 1_000_000
        while left:
            chunk = os.urandom(min(left, 1 << 20))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return path, digest.hexdigest()


def bench_filesystem(work: Path, sources, repeat: int, *, encrypted: bool) -> list[tuple]:
    label = "filesystem, AES-256-GCM" if encrypted else "filesystem, no encryption"
    store = FilesystemStore(work / f"store-{encrypted}", os.urandom(32) if encrypted else None)
    plain = work / f"plain-{encrypted}"
    plain.mkdir()
    rows = []
    for size_mb, (path, sha) in sources.items():
        retain = datetime.now(UTC) + timedelta(days=1)

        def copy(n: int, path=path, size_mb=size_mb) -> Path:
            with path.open("rb") as src, (plain / f"{size_mb}-{n}.bin").open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            return Path(dst.name)

        def atomic(n: int, path=path, size_mb=size_mb) -> Path:
            folder = plain / f"doc-{size_mb}-{n}"
            folder.mkdir()
            _fsync(plain)
            with path.open("rb") as src, (folder / "tmp").open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(folder / "tmp", folder / "original.bin")
            _fsync(folder)
            return folder

        def put(n: int, path=path, sha=sha, size_mb=size_mb, retain=retain) -> Path:
            with path.open("rb") as src:
                info = store.put(f"documents/bench-{size_mb}-{n}/original.bin", src,
                                 retain_until=retain, expected_sha256=sha)
            return store.version_path(info.key, info.version_id).parent  # bench only:
            # removed behind the store's back (it is under retention) when recycling

        _remove(copy(-1))  # warm the page cache of the source
        if not COLD_START:  # as the S3 case does: the first put of a process starts its
            _remove(put(-1))  # helper threads and touches its buffers, once
        rates = _rates(size_mb * 1_000_000, repeat,
                       {"copy": copy, "atomic": atomic, "put": put})
        rows.append((label, size_mb, rates["copy"], rates["atomic"], rates["put"]))
    return rows


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _fsync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def bench_s3(endpoint: str, access: str, secret: str, sources, repeat: int) -> list[tuple]:
    from minio import Minio

    from archive.s3 import S3Store

    store = S3Store.connect(f"http://{endpoint}", access, secret, "chartvault-bench")
    list(store.list("none/"))  # creates the bucket
    raw = Minio(endpoint, access_key=access, secret_key=secret, secure=False)
    rows = []
    for size_mb, (path, sha) in sources.items():
        size = size_mb * 1_000_000
        retain = datetime.now(UTC) + timedelta(hours=1)
        run_id = uuid.uuid4().hex[:8]

        def plain(n: int, path=path, size_mb=size_mb, run_id=run_id) -> None:
            with path.open("rb") as src:
                raw.put_object("chartvault-bench", f"plain/{run_id}-{size_mb}-{n}", src,
                               path.stat().st_size)

        def put(n: int, path=path, sha=sha, size_mb=size_mb, run_id=run_id,
                retain=retain) -> None:
            with path.open("rb") as src:
                store.put(f"documents/{run_id}-{size_mb}-{n}/original.bin", src,
                          retain_until=retain, expected_sha256=sha)

        plain(-1)
        put(-1)
        rates = _rates(size, repeat, {"plain": plain, "put": put})
        rows.append(("S3 on Ceph RGW", size_mb, rates["plain"], None, rates["put"]))
    return rows


def bench_get_latency(repeat: int) -> None:
    """Median GET time of small objects from RGW with and without beast tcp_nodelay,
    through S3Store (keep-alive pool, TCP_QUICKACK) and plain minio clients."""
    from tests.support.rgw import RgwCluster

    print("| RGW beast | object | S3Store.get ms | minio keep-alive ms | minio new connection ms |")
    print("|---|---:|---:|---:|---:|")
    for nodelay in (False, True):
        with RgwCluster(tcp_nodelay=nodelay) as rgw:
            _latency_rows(rgw, "tcp_nodelay=1" if nodelay else "default", repeat)


def _latency_rows(rgw, label: str, repeat: int) -> None:
    import urllib3
    from minio import Minio

    from archive.s3 import S3Store

    bucket = "chartvault-latency"
    store = S3Store.connect(f"http://{rgw.endpoint}", rgw.access_key, rgw.secret_key, bucket)
    kept = Minio(rgw.endpoint, access_key=rgw.access_key, secret_key=rgw.secret_key,
                 secure=False)
    fresh = Minio(rgw.endpoint, access_key=rgw.access_key, secret_key=rgw.secret_key,
                  secure=False, http_client=urllib3.PoolManager(
                      headers={"Connection": "close"}, maxsize=1, retries=False))

    def ours(info) -> None:
        with store.get(info.key, info.version_id) as stream:
            stream.read()

    def raw(client, info) -> None:
        response = client.get_object(bucket, info.key)
        response.read()
        response.close()
        response.release_conn()

    for size in (100, 100_000, 1_000_000):
        info = store.put(f"o{size}", io.BytesIO(os.urandom(size)))
        rates = _rates(size, repeat, {
            "ours": lambda n, info=info: ours(info),
            "kept": lambda n, info=info: raw(kept, info),
            "fresh": lambda n, info=info: raw(fresh, info),
        })
        ms = {name: size / rate.median / 1e3 for name, rate in rates.items()}
        print(f"| {label} | {size:,} B | {ms['ours']:.1f} | {ms['kept']:.1f} "
              f"| {ms['fresh']:.1f} |")


def _print(rows, pick: str) -> None:
    print(f"{'Medians' if pick == 'median' else 'Best runs'} (MB/s; CPU ms = median CPU "
          "time per run):\n")
    print("| backend | file | plain write MB/s | crash-safe plain write MB/s "
          "| Chartvault put MB/s | put / plain | put / crash-safe | CPU ms plain / put |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for backend, size_mb, plain, safe, ours in rows:
        mbs = {name: getattr(rate, pick) if rate else None
               for name, rate in (("plain", plain), ("safe", safe), ("ours", ours))}
        safe_rate = f"{mbs['safe']:.0f}" if safe else "-"
        safe_ratio = f"{mbs['ours'] / mbs['safe']:.2f}" if safe else "-"
        print(f"| {backend} | {size_mb} MB | {mbs['plain']:.0f} | {safe_rate} "
              f"| {mbs['ours']:.0f} | {mbs['ours'] / mbs['plain']:.2f} | {safe_ratio} "
              f"| {plain.cpu_ms:.1f} / {ours.cpu_ms:.1f} |")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-s3", action="store_true")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES_MB)),
                        help="file sizes in MB, comma-separated (default: %(default)s)")
    parser.add_argument("--s3-endpoint", help="host:port of an S3 server (default: start RGW)")
    parser.add_argument("--s3-access-key", default="")
    parser.add_argument("--s3-secret-key", default="")
    parser.add_argument("--dir", type=Path, default=None, help="work folder (default: /tmp)")
    parser.add_argument("--keep-outputs", action="store_true",
                        help="keep every file written until the end (the definition "
                        "before 2026-11-26; see KEEP_OUTPUTS)")
    parser.add_argument("--cold-start", action="store_true",
                        help="no untimed put before each size's runs (see COLD_START)")
    parser.add_argument("--get-latency", action="store_true",
                        help="instead: small-GET latency against RGW, keep-alive or not")
    args = parser.parse_args()
    global KEEP_OUTPUTS, COLD_START
    KEEP_OUTPUTS, COLD_START = args.keep_outputs, args.cold_start
    if args.get_latency:
        bench_get_latency(args.repeat * 3)
        return 0
    with tempfile.TemporaryDirectory(prefix="chartvault-bench-", dir=args.dir) as tmp:
        work = Path(tmp)
        sources = {mb: _make_source(work, mb) for mb in map(int, args.sizes.split(","))}
        rows = bench_filesystem(work, sources, args.repeat, encrypted=True)
        rows += bench_filesystem(work, sources, args.repeat, encrypted=False)
        if not args.no_s3:
            rows += _s3_rows(args, sources)
    _print(rows, "median")
    _print(rows, "best")
    return 0


def _s3_rows(args, sources) -> list[tuple]:
    if args.s3_endpoint:
        return bench_s3(args.s3_endpoint, args.s3_access_key, args.s3_secret_key, sources,
                        args.repeat)
    from tests.support.rgw import RgwCluster, missing_binaries

    if missing_binaries():
        print(f"skipping S3: Ceph not installed ({', '.join(missing_binaries())})")
        return []
    with RgwCluster() as rgw:
        return bench_s3(rgw.endpoint, rgw.access_key, rgw.secret_key, sources, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
