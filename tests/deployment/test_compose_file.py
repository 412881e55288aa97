"""docker-compose.yml as shipped: valid, pinned, no silent defaults, least privilege,
health checks the start order waits on, and only settings Chartvault knows."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import elasticsearch
import pytest
from packaging.requirements import Requirement

from chartvault.settings import Settings, load_settings, variable
from tests.support.compose import (
    APP_SERVICES,
    COMPOSE_FILE,
    REPO,
    compose,
    required_variables,
    resolved,
    sample_values,
)

_PINNED = r"\d+\.\d+(\.\d+)?|RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"  # MinIO's
ONE_SHOT = ("minio-init", "elasticsearch-init")  # run once, then exit 0
PASSWORDS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "MINIO_APP_PASSWORD",
             "ELASTIC_PASSWORD", "ELASTICSEARCH_APP_PASSWORD", "CHARTVAULT_SECRET_KEY",
             "CHARTVAULT_STORAGE_KEY", "MINIO_KMS_SECRET_KEY")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return resolved(tmp_path_factory.mktemp("compose"))


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    done = compose(["config", "--quiet"], sample_values(), tmp_path)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", PASSWORDS)
def test_every_password_is_required_by_name(tmp_path: Path, name: str) -> None:
    assert name in required_variables()
    values = sample_values()
    del values[name]
    done = compose(["config", "--quiet"], values, tmp_path)
    assert done.returncode != 0 and f"set {name}" in done.stderr


def test_no_variable_has_a_silent_default() -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert not re.findall(r"\$\{[A-Z0-9_]+(:?-)[^}]*\}", text)  # ${X:-default} / ${X-default}
    assert not re.findall(r"\$[A-Z_]", text.replace("$$", ""))  # a bare $X: empty when unset


def test_every_image_is_pinned_to_a_version(config: dict) -> None:
    for name, service in config["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(_PINNED, tag), f"{name}: {image}"
    assert "build" in config["services"]["web"]  # Chartvault's own image is built here


def test_elasticsearch_client_major_matches_the_server() -> None:
    """The 9.x client sends compatible-with=9, which an 8.x server refuses (and the other
    way round); a client newer than its server is not supported either."""
    image = _service_image("elasticsearch")
    server = _major_minor(image.rpartition(":")[2])
    client = _major_minor(elasticsearch.__versionstr__)
    assert client[0] == server[0], (f"installed client {elasticsearch.__versionstr__}, "
                                    f"compose file's server {image}")
    assert client <= server
    requirement = _requirement("elasticsearch")
    assert requirement.specifier.contains(elasticsearch.__versionstr__)
    for outside in (f"{server[0] - 1}.99.0", f"{server[0] + 1}.0.0",
                    f"{server[0]}.{server[1] + 1}.0"):
        assert not requirement.specifier.contains(outside), (requirement, outside)


def _service_image(name: str) -> str:
    import yaml

    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"][name]["image"]


def _requirement(name: str) -> Requirement:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for line in project["project"]["dependencies"]:
        requirement = Requirement(line)
        if requirement.name == name:
            return requirement
    raise AssertionError(f"{name} is not a dependency")


def test_health_checks_and_start_order(config: dict) -> None:
    services = config["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert "restart" not in service, name
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            wanted = ("service_completed_successfully" if needed in ONE_SHOT
                      else "service_healthy")
            assert how == {"condition": wanted}, (name, needed, how)
    for name in APP_SERVICES:
        assert set(services[name]["depends_on"]) == {"postgres", "redis", "minio-init",
                                                      "elasticsearch-init"}
    assert "web" in services["proxy"]["depends_on"]


def test_only_the_proxy_publishes_ports(config: dict) -> None:
    published = {name for name, service in config["services"].items() if service.get("ports")}
    assert published == {"proxy"}
    targets = {int(p["target"]) if isinstance(p, dict) else int(str(p).split(":")[-1])
               for p in config["services"]["proxy"]["ports"]}
    assert targets == {80, 443}


def test_redis_keeps_an_append_only_file(config: dict) -> None:
    command = config["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1] == sample_values()["REDIS_PASSWORD"]


def test_app_variables_are_settings_chartvault_knows(config: dict) -> None:
    known = {variable(f.name) for f in dataclasses.fields(Settings)}
    for name in APP_SERVICES:
        environment = config["services"][name]["environment"]
        unknown = {key for key in environment if key.startswith("CHARTVAULT_")} - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings"
        assert set(environment) - known == {"OMP_THREAD_LIMIT"}
        # and together they are a valid production configuration
        settings = load_settings({k: str(v) for k, v in environment.items()},
                                 local_secrets=False)
        assert settings.environment == "production"  # an unknown variable would stop it
        assert settings.trusted_proxies == 1 and settings.elasticsearch_password


def test_the_application_holds_no_root_credential(config: dict) -> None:
    services, values = config["services"], sample_values()
    app = services["web"]["environment"]
    assert app["CHARTVAULT_S3_ACCESS_KEY"] != services["minio"]["environment"]["MINIO_ROOT_USER"]
    assert app["CHARTVAULT_S3_ACCESS_KEY"] == services["minio-init"]["environment"]["APP_USER"]
    assert app["CHARTVAULT_S3_SECRET_KEY"] == values["MINIO_APP_PASSWORD"]
    assert app["CHARTVAULT_ELASTICSEARCH_USERNAME"] == (
        services["elasticsearch-init"]["environment"]["APP_USER"])
    assert app["CHARTVAULT_ELASTICSEARCH_USERNAME"] != "elastic"
    assert app["CHARTVAULT_ELASTICSEARCH_PASSWORD"] == values["ELASTICSEARCH_APP_PASSWORD"]
    root_secrets = {values["MINIO_ROOT_PASSWORD"], values["ELASTIC_PASSWORD"]}
    for name in APP_SERVICES:
        assert not root_secrets & {str(v) for v in services[name]["environment"].values()}


def test_elasticsearch_runs_with_security_on(config: dict) -> None:
    environment = config["services"]["elasticsearch"]["environment"]
    assert environment["xpack.security.enabled"] == "true"
    assert environment["ELASTIC_PASSWORD"] == sample_values()["ELASTIC_PASSWORD"]
    role_index = config["services"]["elasticsearch-init"]["environment"]["INDEX"]
    assert role_index == Settings.elasticsearch_index  # the role reaches the app's index


def test_minio_policy_reaches_the_bucket_alone(config: dict) -> None:
    bucket = config["services"]["web"]["environment"]["CHARTVAULT_S3_BUCKET"]
    assert config["services"]["minio-init"]["environment"]["BUCKET"] == bucket
    policy = json.loads((REPO / "deploy" / "minio-policy.json").read_text(encoding="utf-8"))
    actions, resources = set(), set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions |= set(statement["Action"])
        resources |= set(statement["Resource"])
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert all(a.startswith("s3:") and "*" not in a for a in actions)
    # what the store does (archive/s3.py): read, write, list versions, lock and hold
    assert {"s3:PutObject", "s3:GetObjectVersion", "s3:ListBucketVersions",
            "s3:PutObjectRetention", "s3:PutObjectLegalHold",
            "s3:GetBucketObjectLockConfiguration"} <= actions
    # nothing that weakens the lock, nor administers the bucket
    assert not {a for a in actions if re.search(r"Bypass|Policy|Create|DeleteBucket|"
                                                r"PutBucket|Configuration$", a)
                and a != "s3:GetBucketObjectLockConfiguration"}
    script = (REPO / "deploy" / "minio-init.sh").read_text(encoding="utf-8")
    assert "--with-lock" in script


def test_the_proxy_uses_the_shipped_caddyfile(config: dict) -> None:
    proxy = config["services"]["proxy"]
    mounts = [v if isinstance(v, str) else f"{v['source']}:{v['target']}"
              for v in proxy["volumes"]]
    caddyfile = REPO / "deploy" / "Caddyfile"
    assert any(m.startswith(str(caddyfile)) and ":/etc/caddy/Caddyfile" in m for m in mounts)
    used = set(re.findall(r"\{\$([A-Z_]+)(?::[^}]*)?\}", caddyfile.read_text(encoding="utf-8")))
    without_default = set(re.findall(r"\{\$([A-Z_]+)\}", caddyfile.read_text(encoding="utf-8")))
    assert without_default <= set(proxy["environment"]), used
    assert proxy["environment"]["UPSTREAM"] == "web:8000"


# What each minio SDK call of archive/s3.py needs from the bucket policy. make_bucket
# needs none: minio-init makes the bucket, and the store only makes one that is missing.
_SDK_ACTIONS = {
    "bucket_exists": {"s3:ListBucket"},
    "make_bucket": set(),
    "get_object_lock_config": {"s3:GetBucketObjectLockConfiguration"},
    "stat_object": {"s3:GetObject", "s3:GetObjectVersion"},
    "get_object": {"s3:GetObject", "s3:GetObjectVersion"},
    "list_objects": {"s3:ListBucket", "s3:ListBucketVersions"},
    "put_object": {"s3:PutObject"},
    "set_object_retention": {"s3:PutObjectRetention"},
    "enable_object_legal_hold": {"s3:PutObjectLegalHold"},
    "disable_object_legal_hold": {"s3:PutObjectLegalHold"},
    "remove_object": {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    "set_object_tags": {"s3:PutObjectTagging", "s3:PutObjectVersionTagging"},
}


def test_the_policy_allows_every_call_the_store_makes() -> None:
    source = (REPO / "archive" / "s3.py").read_text(encoding="utf-8")
    calls = set(re.findall(r"_client\.([a-z_]+)", source))
    assert calls, "archive/s3.py makes no minio call any more?"
    unmapped = calls - set(_SDK_ACTIONS)
    assert not unmapped, (f"archive/s3.py calls {sorted(unmapped)}: add the S3 actions they "
                          "need to deploy/minio-policy.json and to _SDK_ACTIONS here")
    policy = json.loads((REPO / "deploy" / "minio-policy.json").read_text(encoding="utf-8"))
    allowed = {a for statement in policy["Statement"] for a in statement["Action"]}
    needed = set().union(*(_SDK_ACTIONS[c] for c in calls))
    assert needed <= allowed, sorted(needed - allowed)


@pytest.mark.parametrize(("shell", "script"), [("sh", "minio-init.sh"),
                                               ("bash", "elasticsearch-init.sh")])
def test_init_scripts_parse_and_stop_on_errors(shell: str, script: str) -> None:
    """No MinIO or Elasticsearch runs here: the one-shot scripts are checked for syntax
    (by the shell of their image) and for failing fast."""
    import subprocess

    path = REPO / "deploy" / script
    done = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^set -eu", path.read_text(encoding="utf-8"), re.MULTILINE)
