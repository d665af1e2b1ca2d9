"""The `catsdogs` command line: it parses arguments and calls the modules that do the work."""

from __future__ import annotations

import typer

from catsdogs import __version__

app = typer.Typer(
    name="catsdogs",
    help="Kaggle Dogs vs. Cats, end to end: prepare the data, train VGG19 under Lookahead(SGD), "
    "predict a submission.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"catsdogs {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Kaggle Dogs vs. Cats, end to end."""
