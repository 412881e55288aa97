"""A throw-away single-node Ceph cluster with a RADOS Gateway, for S3 tests.

Everything lives under one temporary directory and listens on 127.0.0.1:
one monitor (msgr v1), one OSD on ``memstore`` (RAM), pools of size 1, no
manager, cephx with one keyring, and ``radosgw`` (beast) with one S3 user
whose keys are fixed; SSE-C is allowed over plain HTTP. It starts in about
15 s. Needs the Debian packages ``ceph-mon ceph-osd radosgw ceph-common``
(``ceph-base`` comes with them).

    with RgwCluster() as rgw:          # raises RgwStartError with log tails
        print(rgw.endpoint, rgw.access_key, rgw.secret_key)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

BINARIES = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "monmaptool",
            "ceph-authtool")
APT_PACKAGES = ("ceph-mon", "ceph-osd", "radosgw", "ceph-common")
ACCESS_KEY = "CHARTVAULTTESTKEY000"
SECRET_KEY = "chartvault-test-secret-0000000000000000"  # noqa: S105 - throw-away cluster
RGW_NAME = "client.rgw.test"


class RgwStartError(RuntimeError):
    """The binaries are there but the cluster did not come up; the message has log tails."""


@dataclass(frozen=True)
class RgwEndpoint:
    endpoint: str  # host:port, as the minio client wants it
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"


def missing_binaries() -> list[str]:
    return [name for name in BINARIES if shutil.which(name) is None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_CONF = """\
[global]
fsid = {fsid}
mon_host = v1:127.0.0.1:{mon_port}
mon_initial_members = a
public_addr = 127.0.0.1
ms_bind_msgr2 = false
ms_bind_ipv6 = false
# cephx, not "none": without the auth handshake a client can send a command
# before it has the monmap, and the monitor refuses it ("wrong fsid", EPERM).
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = {dir}/keyring
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_max_pg_per_osd = 1000
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
# The OSD is placed in the crush map by start() rather than by itself.
osd_crush_update_on_start = false
osd_class_update_on_start = false
osd_objectstore = memstore
memstore_device_bytes = 8589934592
run_dir = {dir}/run
crash_dir = {dir}/crash
admin_socket = {dir}/run/$name.asok
pid_file = {dir}/run/$name.pid
log_file = {dir}/log/$name.log
mon_data = {dir}/mon/$cluster-$id
osd_data = {dir}/osd/$cluster-$id

[{rgw_name}]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}{frontend_options}
rgw_data = {dir}/rgw
rgw_thread_pool_size = 64
rgw_crypt_require_ssl = false
"""

# Every daemon and client finds its cephx key in this one keyring.
_KEYRING = (
    ("mon.", ("mon", "allow *")),
    ("client.admin", ("mon", "allow *", "osd", "allow *", "mgr", "allow *")),
    ("osd.0", ("mon", "allow profile osd", "osd", "allow *", "mgr", "allow profile osd")),
    (RGW_NAME, ("mon", "allow rw", "osd", "allow rwx", "mgr", "allow rw")),
)


class RgwCluster:
    """Start with :meth:`start` (or ``with``); :meth:`stop` kills everything and
    removes the directory (unless ``keep=True``)."""

    def __init__(self, base: Path | None = None, *, timeout: float = 90.0,
                 keep: bool = False, tcp_nodelay: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="chartvault-rgw-", dir=base))
        self.timeout = timeout
        self.keep = keep
        # Without tcp_nodelay, beast's Nagle + the client's delayed ACK add ~40 ms
        # to every small GET (measured: 44 ms for a 100-byte object). Off = like a
        # default production RGW.
        self.frontend_options = " tcp_nodelay=1" if tcp_nodelay else ""
        self.mon_port, self.rgw_port = _free_port(), _free_port()
        self.conf = self.dir / "ceph.conf"
        self._procs: list[subprocess.Popen] = []

    def __enter__(self) -> RgwEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # running commands ---------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60.0) -> str:
        log = self.dir / "log" / "commands.log"
        try:
            done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                                  cwd=self.dir)
        except subprocess.TimeoutExpired as exc:
            raise self._error(f"{' '.join(args)} timed out after {timeout}s") from exc
        with log.open("a") as out:
            out.write(f"$ {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        if done.returncode != 0:
            raise self._error(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    def _ceph(self, *args: str) -> str:
        return self._run("ceph", "-c", str(self.conf), "--connect-timeout", "5", *args,
                         timeout=30)

    def _daemon(self, name: str, *args: str) -> None:
        out = (self.dir / "log" / f"{name}.out").open("w")
        proc = subprocess.Popen([*args, "-c", str(self.conf), "-f"], stdout=out,
                                stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
        out.close()
        self._procs.append(proc)

    def _check_alive(self) -> None:
        for proc in self._procs:
            if proc.poll() is not None:
                raise self._error(f"{proc.args[0]} exited with status {proc.returncode}")

    def _wait(self, what: str, ready, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            if ready():
                return
            time.sleep(0.25)
        raise self._error(f"timed out waiting for {what}")

    # steps --------------------------------------------------------------------

    def start(self) -> RgwEndpoint:
        """Bring the cluster up; RgwStartError (with log tails) if it does not come up."""
        deadline = time.monotonic() + self.timeout
        try:
            self._write_config()
            self._start_monitor(deadline)
            self._start_osd(deadline)
            self._start_gateway(deadline)
        except BaseException:
            self.stop()  # the error already carries the log tails
            raise
        return RgwEndpoint(f"127.0.0.1:{self.rgw_port}", ACCESS_KEY, SECRET_KEY)

    def _write_config(self) -> None:
        for sub in ("run", "log", "crash", "mon/ceph-a", "osd/ceph-0", "rgw"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        self.conf.write_text(_CONF.format(fsid=fsid, mon_port=self.mon_port,
                                          rgw_port=self.rgw_port, dir=self.dir,
                                          rgw_name=RGW_NAME,
                                          frontend_options=self.frontend_options))
        keyring = str(self.dir / "keyring")
        self._run("ceph-authtool", "--create-keyring", keyring)
        for name, caps in _KEYRING:
            cap_args = [a for i in range(0, len(caps), 2) for a in ("--cap", *caps[i:i + 2])]
            self._run("ceph-authtool", keyring, "--gen-key", "-n", name, *cap_args)
        self._run("monmaptool", "--create", "--addv", "a", f"[v1:127.0.0.1:{self.mon_port}]",
                  "--fsid", fsid, str(self.dir / "monmap"))

    def _start_monitor(self, deadline: float) -> None:
        self._run("ceph-mon", "-c", str(self.conf), "--mkfs", "-i", "a",
                  "--monmap", str(self.dir / "monmap"), "--keyring", str(self.dir / "keyring"))
        self._daemon("mon.a", "ceph-mon", "-i", "a")
        self._wait("the monitor", self._monitor_up, deadline)

    def _monitor_up(self) -> bool:
        try:
            self._ceph("mon", "stat")
            return True
        except RgwStartError:
            return False

    def _start_osd(self, deadline: float) -> None:
        osd_uuid = str(uuid.uuid4())
        osd_id = self._ceph("osd", "new", osd_uuid).strip()
        self._run("ceph-osd", "-c", str(self.conf), "-i", osd_id, "--mkfs",
                  "--osd-uuid", osd_uuid)
        self._ceph("osd", "crush", "add", f"osd.{osd_id}", "1.0", "root=default")
        self._daemon("osd.0", "ceph-osd", "-i", osd_id)
        self._wait("the OSD", self._osd_up, deadline)

    def _osd_up(self) -> bool:
        stat = json.loads(self._ceph("osd", "stat", "-f", "json"))
        return stat.get("num_up_osds", 0) >= 1

    def _start_gateway(self, deadline: float) -> None:
        self._run("radosgw-admin", "-c", str(self.conf), "-n", RGW_NAME, "user", "create",
                  "--uid", "chartvault", "--display-name", "Chartvault tests",
                  "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
                  timeout=max(1.0, deadline - time.monotonic()))
        self._daemon("rgw", "radosgw", "-n", RGW_NAME)
        self._wait("radosgw to answer HTTP", self._gateway_up, deadline)

    def _gateway_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.rgw_port}/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered
        except OSError:
            return False

    # stopping and diagnosing --------------------------------------------------

    def stop(self, *, remove: bool = True) -> None:
        """Kill the daemons (the data is throw-away) and remove the directory."""
        for proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(timeout=30)
        self._procs.clear()
        if remove and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tails(self, lines: int = 25) -> str:
        parts = []
        for path in sorted((self.dir / "log").glob("*")):
            try:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts)

    def _error(self, message: str) -> RgwStartError:
        return RgwStartError(f"Ceph RGW test cluster in {self.dir}: {message}\n{self.log_tails()}")
