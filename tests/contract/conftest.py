"""Fixtures for the contract suites: a real S3 server (Ceph RGW) started once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # tests/ is not an installed package
    sys.path.insert(0, str(_ROOT))

from tests.support.rgw import (  # noqa: E402
    APT_PACKAGES,
    RgwCluster,
    RgwEndpoint,
    RgwStartError,
    missing_binaries,
)


@pytest.fixture(scope="session")
def rgw() -> RgwEndpoint:
    """A throw-away Ceph RGW on 127.0.0.1. Skips if Ceph is not installed; fails
    (never skips) if it is installed but does not start."""
    missing = missing_binaries()
    if missing:
        pytest.skip(
            f"Ceph RGW not installed: missing {', '.join(missing)} "
            f"(apt-get install {' '.join(APT_PACKAGES)})"
        )
    cluster = RgwCluster()
    try:
        endpoint = cluster.start()
    except RgwStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield endpoint
    finally:
        cluster.stop()
