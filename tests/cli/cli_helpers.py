"""Running ``lmrec`` in-process from the CLI tests, and what a user error looks like."""

from __future__ import annotations

from typer.testing import CliRunner

from lmrec.cli import app

RUNNER = CliRunner()
RUN_FILES = ("config.json", "model.safetensors", "idmap.json", "items.json", "run.json")


def lmrec(*args: object):
    """Run ``lmrec ARGS`` in-process; returns click's Result (stdout, stderr, exit_code)."""
    return RUNNER.invoke(app, [str(a) for a in args])


def ok(*args: object):
    result = lmrec(*args)
    assert result.exit_code == 0, f"lmrec {args} failed:\n{result.output}"
    assert "Traceback" not in result.output
    return result


def assert_user_error(result) -> None:
    """Exit code 2, one ``error:`` line on stderr, no traceback anywhere."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
