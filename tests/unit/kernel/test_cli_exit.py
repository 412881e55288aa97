"""The console script ends without the interpreter's teardown, and loses nothing by it:
its exit code, its output, every atexit callback and every log line still there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path


def _chartvault(env: dict[str, str], *args: str, code: str = "") -> subprocess.CompletedProcess:
    """``python -c`` running the console script's entry point after ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import sys
        from chartvault.cli import run
        sys.argv = ["chartvault", *{list(args)!r}]
        run()
    """)
    return subprocess.run([sys.executable, "-c", script], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_exit_code_and_message_of_an_error_are_kept(cv_env) -> None:  # noqa: ANN001
    done = _chartvault(cv_env, "show", "nosuchdocument")
    assert done.returncode == 66
    assert "error [not_found]: document nosuchdocument does not exist" in done.stderr


def test_a_quarantined_file_exits_1_with_its_whole_report(cv_env, tmp_path: Path) -> None:  # noqa: ANN001
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    done = _chartvault(cv_env, "ingest", str(empty), "--mrn", "TST000001", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)  # all of it written out before the process ended
    assert [d["status"] for d in report["documents"]] == ["quarantined"]


def test_callbacks_run_and_the_teardown_is_skipped(cv_env) -> None:  # noqa: ANN001
    # A callback registered after the command's modules (as a library's would be) still
    # runs; an object that only the teardown would free is never freed; a log line
    # written last is on stderr.
    done = _chartvault(cv_env, "--version", code="""
        import atexit, logging, sys

        class FreedOnlyAtTeardown:
            def __del__(self):
                print("teardown ran", file=sys.stderr, flush=True)

        KEPT = FreedOnlyAtTeardown()
        atexit.register(lambda: print("callback ran", flush=True))
        atexit.register(lambda: logging.getLogger("chartvault.test").warning("last words"))
    """)
    assert done.returncode == 0, done.stderr
    assert "chartvault" in done.stdout and "callback ran" in done.stdout
    assert "last words" in done.stderr
    assert "teardown ran" not in done.stderr


def test_a_bug_keeps_its_traceback_and_exit_code(cv_env) -> None:  # noqa: ANN001
    done = _chartvault(cv_env, "boom", code="""
        import chartvault.cli

        @chartvault.cli.main.command("boom")
        def boom():
            raise RuntimeError("a bug")
    """)
    assert done.returncode == 1
    assert "RuntimeError: a bug" in done.stderr


def test_a_mistyped_setting_stops_serve_with_78_naming_the_right_variable(cv_env) -> None:  # noqa: ANN001
    # main put CHARTVAULT_OBJECTSTORE into Settings.extra, which nothing read, and served
    # from the filesystem store on a disk the deployment does not keep
    done = _chartvault({**cv_env, "CHARTVAULT_OBJECTSTORE": "s3"}, "serve")
    assert done.returncode == 78, done.stderr
    assert ("unknown setting CHARTVAULT_OBJECTSTORE; did you mean CHARTVAULT_OBJECT_STORE?"
            in done.stderr)


def test_a_negative_retention_stops_the_command_before_any_upload(cv_env, tmp_path) -> None:  # noqa: ANN001
    page = tmp_path / "p.pdf"
    page.write_bytes(b"%PDF-1.4\n")
    done = _chartvault({**cv_env, "CHARTVAULT_DEFAULT_RETENTION_YEARS": "-1"}, "ingest",
                       str(page), "--mrn", "TST000001")
    assert done.returncode == 78, done.stderr
    assert "CHARTVAULT_DEFAULT_RETENTION_YEARS must be between 1 and 200, got -1" in done.stderr
