"""The root command group, its error handling and the console entry point.

Errors the user can fix (:class:`lmrec.errors.LmrecError`, bad flags) print one line,
``error: <message>``, on stderr and exit with code 2; there is no traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer._click.exceptions import NoArgsIsHelpError  # typer vendors click; pinned in reqs
from typer.core import TyperGroup

from lmrec.errors import LmrecError

HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}


class _Group(TyperGroup):
    """The root command group; turns user errors into one ``error:`` line and exit code 2."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            result = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except NoArgsIsHelpError as exc:  # bare `lmrec` or `lmrec data`: show the help
            exc.show()
            code = 0
        except typer.TyperException as exc:  # click's usage errors: unknown flag, bad value
            ctx = getattr(exc, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            code = fail(exc.format_message() + hint, getattr(exc, "exit_code", 2))
        except typer.Abort:
            typer.echo("aborted", err=True)
            code = 1
        except LmrecError as exc:
            code = fail(str(exc))
        if not standalone_mode:
            return code
        sys.exit(code)


def fail(message: str, code: int = 2) -> int:
    """Print ``error: message`` as one line on stderr; return the exit code."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return code


app = typer.Typer(
    cls=_Group,
    name="lmrec",
    help="lmrec: recommendation models, full-ranking evaluation and reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings=HELP_OPTIONS,
)
data_app = typer.Typer(
    help="List the known data sets and describe one.",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(data_app, name="data")
keys_app = typer.Typer(
    help="API keys for lmrec serve (only their hashes are stored).",
    no_args_is_help=True,
    context_settings=HELP_OPTIONS,
)
app.add_typer(keys_app, name="keys")


def main() -> None:
    """Console entry point (``lmrec``): run the app; user errors exit 2 with one line."""
    try:
        app(prog_name="lmrec")
    except LmrecError as exc:  # raised outside a command, e.g. while building the app
        sys.exit(fail(str(exc)))
