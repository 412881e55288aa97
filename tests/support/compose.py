"""The deployment files read as data: docker-compose.yml resolved by Debian's
``docker-compose`` (v1 parses and validates a file without a Docker engine) and the
Dockerfile's stages."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
APP_SERVICES = ("web", "worker", "beat")
_REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")


def required_variables() -> list[str]:
    """The names the compose file requires (``${NAME:?message}``), in order of appearance."""
    return list(dict.fromkeys(_REQUIRED.findall(COMPOSE_FILE.read_text(encoding="utf-8"))))


def sample_values() -> dict[str, str]:
    """A distinct value per required variable, so a test can tell which went where; the
    storage key a real one (32 bytes in base64), as start-up decodes it."""
    values = {name: f"value-of-{name.lower().replace('_', '-')}"
              for name in required_variables()}
    if "CHARTVAULT_STORAGE_KEY" in values:
        key = b"storage-key-sample-32-bytes-long"
        values["CHARTVAULT_STORAGE_KEY"] = base64.b64encode(key).decode()
    return values


def compose(args: list[str], variables: dict[str, str], tmp: Path
            ) -> subprocess.CompletedProcess[str]:
    """``docker-compose ARGS`` on the repository's file, with only ``variables`` set
    (an empty --env-file: a developer's own .env must not change the answer)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        raise FileNotFoundError("docker-compose is not installed: run scripts/setup.sh --test")
    empty = tmp / "empty.env"
    empty.write_text("")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), **variables}
    return subprocess.run([binary, "--env-file", str(empty), "--project-directory", str(REPO),
                           "-f", str(COMPOSE_FILE), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def resolved(tmp: Path) -> dict:
    """The compose file as docker-compose resolves it (anchors merged, variables in)."""
    done = compose(["config"], sample_values(), tmp)
    if done.returncode != 0:
        raise AssertionError(f"docker-compose config failed:\n{done.stderr}")
    return yaml.safe_load(done.stdout)


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)  # (KEYWORD, rest)

    def runs(self) -> str:
        return "\n".join(rest for keyword, rest in self.instructions if keyword == "RUN")


def dockerfile_stages(text: str | None = None) -> list[Stage]:
    """The Dockerfile's stages with their instructions (continuation lines joined,
    comments dropped). Enough of the Dockerfile grammar for checks, not a builder."""
    text = DOCKERFILE.read_text(encoding="utf-8") if text is None else text
    logical, current = [], ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if current and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        current += line.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        logical.append(current.strip())
        current = ""
    stages: list[Stage] = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else str(len(stages))
            stages.append(Stage(name=name, base=words[0]))
        elif stages:
            stages[-1].instructions.append((keyword, rest.strip()))
    return stages
