"""The production topology of docker-compose.yml, as local processes (no Docker here):
PostgreSQL and Redis (this machine's), Ceph RGW for S3 with Object Lock, the
Elasticsearch stand-in (osmem), ``chartvault serve`` with CHARTVAULT_ENVIRONMENT=production
and one trusted proxy hop, behind Debian's caddy running the shipped deploy/Caddyfile
with a test CA's certificate, and a separate ``chartvault worker`` and ``chartvault beat``.

Headless Chromium reaches the proxy from its own loopback address (127.0.0.2, through a
TCP relay), signs in over HTTPS, uploads a scan, finds it by a word the worker read and
opens it; the audit trail records 127.0.0.2, never the proxy's 127.0.0.1."""

from __future__ import annotations

import base64
import http.cookiejar
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from tests.support.osmem import StandInUnavailable, elasticsearch_stand_in
from tests.support.topology import (
    Processes,
    SiteCertificates,
    TcpRelay,
    free_port,
    http_get,
    make_certificates,
    wait_until,
)

pytestmark = [pytest.mark.deployment, pytest.mark.integration, pytest.mark.browser,
              pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
BROWSER_ADDRESS = "127.0.0.2"  # the browser's side of the relay; everything else is .1
CLERK, PASSWORD = "clerk", "Topology-Velvet-Harbor-7193"
OWN_PASSWORD = "Lantern-Quarry-Meadow-5620"
SHOTS = REPO / "test-artifacts" / "screenshots"


@dataclass
class Topology:
    site: str  # what the browser opens: https://localhost:PORT (through the relay)
    proxy_https: int
    proxy_http: int
    app_port: int
    certificates: SiteCertificates
    env: dict[str, str]
    processes: Processes


def _chartvault() -> str:
    return str(Path(sys.executable).with_name("chartvault"))


def _environment(root: Path, postgres_url: str, redis_url: str, rgw, es_url: str  # noqa: ANN001
                 ) -> dict[str, str]:
    """What docker-compose.yml gives web, worker and beat, pointed at this machine."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHARTVAULT_")}
    return {**base, "OMP_THREAD_LIMIT": "1",
            "CHARTVAULT_ENVIRONMENT": "production",
            "CHARTVAULT_HOME": str(root / "home"),
            "CHARTVAULT_SECRET_KEY": secrets.token_urlsafe(32),
            "CHARTVAULT_STORAGE_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "CHARTVAULT_DATABASE_URL": postgres_url,
            "CHARTVAULT_BROKER_URL": redis_url,
            "CHARTVAULT_OBJECT_STORE": "s3",
            "CHARTVAULT_S3_ENDPOINT": rgw.url,
            "CHARTVAULT_S3_ACCESS_KEY": rgw.access_key,
            "CHARTVAULT_S3_SECRET_KEY": rgw.secret_key,
            "CHARTVAULT_S3_BUCKET": f"cv-topology-{uuid.uuid4().hex[:10]}",
            "CHARTVAULT_S3_REGION": rgw.region,
            "CHARTVAULT_SEARCH_BACKEND": "elasticsearch",
            "CHARTVAULT_ELASTICSEARCH_URL": es_url,
            "CHARTVAULT_ELASTICSEARCH_USERNAME": "chartvault-app",
            "CHARTVAULT_ELASTICSEARCH_PASSWORD": secrets.token_hex(16),
            "CHARTVAULT_TRUSTED_PROXIES": "1",
            "CHARTVAULT_WORKER_CONCURRENCY": "1",
            "CHARTVAULT_OCR_DPI": "150"}


@pytest.fixture
def topology(tmp_path: Path, postgres_url: str, redis_url: str, rgw) -> Iterator[Topology]:  # noqa: ANN001
    if shutil.which("caddy") is None:
        pytest.fail("caddy is missing: scripts/setup.sh --test installs Debian's caddy")
    try:
        stand_in = elasticsearch_stand_in()
        es_url = stand_in.__enter__()
    except StandInUnavailable as exc:
        pytest.skip(f"no Elasticsearch stand-in: osmem-server could not start ({exc})")
    processes = Processes(tmp_path / "logs")
    relay = None
    try:
        env = _environment(tmp_path, postgres_url, redis_url, rgw, es_url)
        add = subprocess.run([_chartvault(), "users", "add", CLERK, "--role", "clerk",
                              "--password-stdin"], input=PASSWORD + "\n", env=env, text=True,
                             capture_output=True, timeout=120, check=False)
        assert add.returncode == 0, add.stderr
        app_port = free_port()
        processes.start("web", [_chartvault(), "serve", "--host", "127.0.0.1", "--port",
                                str(app_port), "--no-workers"], env)
        processes.start("worker", [_chartvault(), "worker", "--concurrency", "1"], env)
        processes.start("beat", [_chartvault(), "beat"], env)
        certificates = make_certificates(tmp_path / "certs")
        https, http = free_port(), free_port()
        processes.start("caddy", ["caddy", "run", "--config", str(REPO / "deploy" / "Caddyfile"),
                                  "--adapter", "caddyfile"],
                        {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "caddy"),
                         "XDG_DATA_HOME": str(tmp_path / "caddy" / "data"),
                         "XDG_CONFIG_HOME": str(tmp_path / "caddy" / "config"),
                         "SITE_ADDRESS": "localhost", "UPSTREAM": f"127.0.0.1:{app_port}",
                         "TLS_CERT": str(certificates.cert), "TLS_KEY": str(certificates.key),
                         "HTTP_PORT": str(http), "HTTPS_PORT": str(https),
                         "CADDY_ADMIN": f"127.0.0.1:{free_port()}"})

        def died() -> str | None:
            for name in ("web", "worker", "beat", "caddy"):
                if not processes.alive(name):
                    return f"{name} exited:\n{processes.log(name)}"
            return None

        context = certificates.client_context()
        wait_until("the site over HTTPS", lambda: http_get(
            f"https://localhost:{https}/healthz", context)[0] == 200, 90, died)
        relay = TcpRelay(("127.0.0.1", https), BROWSER_ADDRESS)
        yield Topology(f"https://localhost:{relay.port}", https, http, app_port, certificates,
                       env, processes)
        assert died() is None  # nothing fell over during the test
    finally:
        if relay is not None:
            relay.close()
        processes.stop_all()
        for name in processes.started:  # shown by pytest when the test failed
            print(f"--- {name} log (end) ---\n{processes.log(name, 4000)}")
        stand_in.__exit__(None, None, None)


def _audit(env: dict[str, str], actor: str) -> list[tuple[str, str, str | None]]:
    """(action, object type, client) of every event by ``actor``, oldest first."""
    import psycopg

    with psycopg.connect(env["CHARTVAULT_DATABASE_URL"]) as conn:
        return [tuple(row) for row in conn.execute(
            "SELECT action, object_type, client FROM audit_event WHERE actor = %s ORDER BY id",
            (actor,))]


def _a_word_the_worker_read(env: dict[str, str], truth: tuple[str, ...]) -> str:
    import psycopg

    with psycopg.connect(env["CHARTVAULT_DATABASE_URL"]) as conn:
        text = " ".join(row[0] or "" for row in conn.execute("SELECT text FROM page"))
    read = {w.lower() for w in re.findall(r"[A-Za-z]{8,}", text)}
    written = {w.lower() for w in re.findall(r"[A-Za-z]{8,}", " ".join(truth))}
    candidates = sorted(read & written)
    assert candidates, "the worker read no long word of the chart"
    return candidates[0]


def test_browser_over_https_through_the_proxy(topology: Topology, playwright,  # noqa: ANN001
                                              tmp_path: Path) -> None:
    """``playwright``: pytest-playwright's session-wide instance (a second sync instance
    cannot start in the same process); the browser is launched here with this test's
    own options."""
    from chartvault.synthetic import ChartSpec, make_chart

    chart = make_chart(ChartSpec(mrn="TST000823", patient_name="TESTPATIENT, Proxy P.",
                                 date_of_birth=date(1970, 2, 3), doc_type="discharge_summary",
                                 service_date=date(2024, 5, 6), pages=2, seed=23,
                                 paragraphs=1), tmp_path / "scan.pdf", fmt="pdf", dpi=150)
    site = topology.site
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                        "--disable-background-networking",
                                        "--disable-component-update",
                                        # no HTTP/3: Caddy's Alt-Svc names its own UDP
                                        # port, which would bypass the relay
                                        "--disable-quic"])
    try:
        # the test CA is not in Chromium's store: its errors are ignored here, while
        # the Python checks below verify the same certificate against the CA
        page = browser.new_context(ignore_https_errors=True).new_page()
        page.goto(site + "/search")
        assert page.url.startswith(site + "/login")
        page.get_by_label("User name").fill(CLERK)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/login" not in url)
        # an administrator set that password: it is one-time, the clerk chooses their own
        assert "/account/password" in page.url
        page.fill("input[name=current_password]", PASSWORD)
        page.fill("input[name=new_password]", OWN_PASSWORD)
        page.fill("input[name=confirm_password]", OWN_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        page.wait_for_url(lambda url: "/account/password" not in url)
        cookies = page.context.cookies()
        session = [c for c in cookies if c["name"] == "__Host-chartvault"]
        assert session and session[0]["secure"] and session[0]["httpOnly"]

        page.goto(site + "/upload")
        page.set_input_files("#files", [str(chart.path)])
        page.get_by_label("MRN").fill("TST000823")
        page.get_by_label("Document type").fill("discharge_summary")
        page.get_by_label("Service date").fill("2024-05-06")
        page.get_by_label("Patient name (new patients)").fill("TESTPATIENT, Proxy P.")
        page.get_by_label("Date of birth (new patients)").fill("1970-02-03")
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url(re.compile(r"/batches/[0-9a-f]{32}$"))
        page.wait_for_selector("#batch-state[data-done=true]", timeout=240_000)
        assert "indexed" in page.locator("#batch-docs").inner_text()
        document_id = page.locator("#batch-docs tr[data-id]").first.get_attribute("data-id")

        word = _a_word_the_worker_read(topology.env, chart.page_texts)
        page.goto(site + "/search")
        page.get_by_label("Search words").fill(word)
        page.get_by_role("button", name="Search").click()
        hit = page.locator(".hit").first
        assert word in hit.locator("mark").first.inner_text().lower()
        page.screenshot(path=str(SHOTS / "topology-search.png"), full_page=True)
        hit.locator(".pageno").first.click()
        page.wait_for_url(re.compile(rf"/documents/{document_id}\?"))
        assert page.evaluate(  # the page image came through the proxy too
            "() => fetch(document.querySelector('svg.pageimg image').getAttribute('href'))"
            ".then(r => r.ok && r.headers.get('content-type').startsWith('image/'))")
        assert word in page.locator(".ocrtext").inner_text().lower()
        page.screenshot(path=str(SHOTS / "topology-viewer.png"), full_page=True)
    finally:
        browser.close()

    events = _audit(topology.env, f"web:{CLERK}")
    done = {(action, kind) for action, kind, _ in events}
    assert {("login", "user"), ("upload", "batch"), ("search", "query"),
            ("view", "document")} <= done, events
    assert {client for _, _, client in events} == {BROWSER_ADDRESS}, events
    # serve runs no worker (--no-workers): the separate worker did the OCR; beat runs beside
    assert "succeeded" in topology.processes.log("worker", 1_000_000)
    assert topology.processes.alive("beat")


def test_tls_hsts_redirect_and_forged_forwarding(topology: Topology) -> None:
    context = topology.certificates.client_context()
    https = f"https://localhost:{topology.proxy_https}"
    # the certificate verifies against the test CA; HSTS exactly once
    status, headers, _ = http_get(https + "/login", context)
    assert status == 200 and headers["strict-transport-security"] == ["max-age=31536000"]
    # plain HTTP: the HTTP port redirects to HTTPS, the HTTPS port refuses it
    status, headers, _ = http_get(f"http://localhost:{topology.proxy_http}/search?q=x")
    assert status == 308 and headers["location"][0].startswith("https://localhost")
    assert headers["location"][0].endswith("/search?q=x")
    status, _, body = http_get(f"http://localhost:{topology.proxy_https}/login")
    assert status == 400 and b"HTTP request to an HTTPS server" in body
    # a forged X-Forwarded-For is replaced by the proxy: the audit sees this client
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                         urllib.request.HTTPCookieProcessor(
                                             http.cookiejar.CookieJar()))
    with opener.open(https + "/login", timeout=10) as response:
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                          response.read().decode()).group(1)
    form = urllib.parse.urlencode({"username": "nobody", "password": "x",
                                   "csrf_token": token}).encode()
    request = urllib.request.Request(https + "/login", data=form,
                                     headers={"X-Forwarded-For": "203.0.113.99",
                                              "Referer": https + "/login"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 401
    assert _audit(topology.env, "web:nobody") == [("login_failed", "user", "127.0.0.1")]
    # HTTPS to the proxy with no trust in the test CA fails: the certificate is checked
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        http_get(https + "/login", ssl.create_default_context())
