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


def _register() -> None:
    from chartvault.cli import documents, server, users

    for command in (*documents.COMMANDS, *server.COMMANDS, *users.COMMANDS):
        main.add_command(command)


_register()
