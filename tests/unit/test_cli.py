"""The CLI group lists every component and loads subcommands lazily."""

from click.testing import CliRunner

from hami.cli import main


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("simulate", "scheduler", "device-plugin", "run"):
        assert name in result.output


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2
