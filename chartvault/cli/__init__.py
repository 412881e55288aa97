"""The ``chartvault`` command line: the composition root that calls the domains.

Errors are mapped to messages and exit codes here, in one place: a
:class:`ChartvaultError` prints ``error [code]: message`` and exits with the
error's code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

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
