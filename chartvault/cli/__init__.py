"""The ``chartvault`` command line: the composition root that calls the domains.

Errors are mapped to messages and exit codes here, in one place: a
:class:`ChartvaultError` prints ``error [code]: message`` and exits with the
error's code; anything else is a bug and keeps its traceback.

The console script (:func:`run`) skips the interpreter's teardown once everything
else has run: freeing a few hundred thousand objects of SQLAlchemy, Celery and
the rest took the command 0.4-0.5 s of CPU after its last commit, while the OCR
workers were already reading the pages it had sent.
"""

from __future__ import annotations

import os
import sys

import click

from chartvault.errors import ChartvaultError


class ChartvaultGroup(click.Group):
    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except ChartvaultError as exc:
            click.echo(f"error [{exc.code}]: {exc.message}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=ChartvaultGroup)
@click.version_option(package_name="chartvault")
def main() -> None:
    """Chartvault: scanned medical charts in, searchable and retained, audited."""
    _configure_logs()


def run() -> None:
    """The console script and ``python -m chartvault``: :func:`main`, then its exit code
    without the interpreter's teardown (see the module's docstring)."""
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    else:  # pragma: no cover - click's standalone mode always exits
        code = 0
    if isinstance(code, str):  # what SystemExit does with a message
        print(code, file=sys.stderr)
        code = 1
    _exit_without_teardown(int(code or 0))


def _exit_without_teardown(code: int) -> None:
    """What the interpreter does on exit up to its teardown, then the exit: threads
    other than daemons are waited for (and concurrent.futures' pools), every atexit
    callback runs (logging's flush, the search pools' closing, temporary
    folders), the output is flushed. Only the freeing of every object is skipped."""
    import atexit
    import threading

    threading._shutdown()  # noqa: SLF001 - the interpreter's own first exit step
    atexit._run_exitfuncs()  # noqa: SLF001 - every callback, in the interpreter's order
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): nothing more to say
            pass
    os._exit(code)


def _configure_logs() -> None:
    """JSON log lines on stderr, PHI scrubbed (the worker does the same)."""
    from chartvault import logs
    from chartvault.errors import ConfigurationError
    from chartvault.settings import load_settings

    try:  # no secrets made here: --help must not write to CHARTVAULT_HOME
        settings = load_settings(local_secrets=False)
    except ConfigurationError:
        logs.configure()  # the command itself reports the bad setting
        return
    logs.configure(settings.log_level, mrn_pattern=settings.mrn_pattern)


def _register() -> None:
    from chartvault.cli import documents, records, server, users

    for command in (*documents.COMMANDS, *server.COMMANDS, *records.COMMANDS, *users.COMMANDS):
        main.add_command(command)
    from chartvault.cli.audit import audit
    main.add_command(audit)
    for command in __import__("chartvault.cli.intake", fromlist=["COMMANDS"]).COMMANDS:
        main.add_command(command)


_register()
