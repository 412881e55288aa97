import pytest
from click.testing import CliRunner

from chartvault.cli import main

COMMANDS = ["ingest", "search", "show", "status", "ocr", "reindex", "serve", "worker", "beat",
            "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_unknown_document_is_a_clear_error(cv_env) -> None:  # noqa: ANN001
    result = CliRunner().invoke(main, ["show", "nosuchdocument"])
    assert result.exit_code == 66
    assert "error [not_found]: document nosuchdocument does not exist" in result.output


def test_search_syntax_error_is_a_clear_error(cv_env) -> None:  # noqa: ANN001
    result = CliRunner().invoke(main, ["search", '"unbalanced'])
    assert result.exit_code == 65, result.output
    assert "error [query_syntax]" in result.output


def test_tables_print_untrusted_text_literally(capsys) -> None:  # noqa: ANN001
    from chartvault.cli.output import table

    table("hits", ["snippet"], [["Tolerating [metformin] without [bold]nausea[/bold]"]])
    out = capsys.readouterr().out
    assert "[metformin]" in out and "[bold]nausea[/bold]" in out
