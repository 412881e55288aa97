"""The image's Dockerfile, read as stages (no Docker engine runs here): tesserocr is
compiled in a builder stage, the runtime stage carries no compiler, runs as a user
and has a HEALTHCHECK."""

from __future__ import annotations

import re

import pytest

from tests.support.compose import Stage, dockerfile_stages

# package names whose presence means a toolchain or headers in the image
_BUILD_TOOLS = re.compile(r"(?<![\w.-])(g\+\+|gcc|cpp|clang|build-essential|make|cmake|"
                          r"pkg-config|[\w.+-]+-dev)(?![\w.+-])")


def problems(stages: list[Stage]) -> list[str]:
    """What is wrong with these stages as Chartvault's image; empty when nothing."""
    found = []
    if len(stages) < 2:
        return ["one stage: the compilers that build tesserocr ship in the image"]
    build, runtime = stages[0], stages[-1]
    if not re.search(r"--no-binary\s+tesserocr", build.runs()):
        found.append("the builder stage does not compile tesserocr from source")
    if tools := sorted(set(_BUILD_TOOLS.findall(runtime.runs()))):
        found.append(f"the runtime stage installs build tools: {', '.join(tools)}")
    if re.search(r"\bpip\b.*\binstall\b", runtime.runs()):
        found.append("the runtime stage runs pip (it would compile there)")
    if not any(k == "COPY" and f"--from={build.name}" in rest
               for k, rest in runtime.instructions):
        found.append("the runtime stage does not copy the built environment from the builder")
    users = [rest for k, rest in runtime.instructions if k == "USER"]
    if not users or users[-1].split(":")[0] in {"root", "0"}:
        found.append("the runtime stage runs as root")
    if not any(k == "HEALTHCHECK" and "NONE" not in rest for k, rest in runtime.instructions):
        found.append("the runtime stage has no HEALTHCHECK")
    for stage in stages:
        if not re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", stage.base):
            found.append(f"stage {stage.name}: base image {stage.base} is not pinned")
    return found


def test_the_shipped_dockerfile_builds_without_compilers_in_the_image() -> None:
    stages = dockerfile_stages()
    assert problems(stages) == []
    assert [s.name for s in stages] == ["build", "runtime"]
    assert "g++" in stages[0].runs()  # the compiler is there, in the builder alone


SINGLE_STAGE = """\
FROM python:3.11-slim-bookworm
RUN apt-get update \\
 && apt-get install -y --no-install-recommends tesseract-ocr \\
      libtesseract-dev libleptonica-dev pkg-config g++ \\
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir --no-binary tesserocr .
CMD ["chartvault", "serve"]
"""

TWO_STAGES_LEAKY = """\
FROM python:3.11.13-slim-bookworm AS build
RUN pip install --no-binary tesserocr .
FROM python:3.11.13-slim-bookworm AS runtime
# a comment inside the stage
RUN apt-get install -y tesseract-ocr \\
      # a comment inside the continued line
      gcc libtesseract-dev
COPY --from=build /opt/chartvault /opt/chartvault
USER root
"""


@pytest.mark.parametrize(("text", "expected"), [
    (SINGLE_STAGE, ["one stage: the compilers that build tesserocr ship in the image"]),
    (TWO_STAGES_LEAKY, ["the runtime stage installs build tools: gcc, libtesseract-dev",
                        "the runtime stage runs as root",
                        "the runtime stage has no HEALTHCHECK"]),
])
def test_the_checks_catch_what_they_are_for(text: str, expected: list[str]) -> None:
    assert problems(dockerfile_stages(text)) == expected
