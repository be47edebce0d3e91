"""The ``satgeo`` command.

Each group of subcommands lives in ``satgeo/commands/<topic>.py`` and registers itself
here. User errors (``SatgeoError``) print one line and exit 2; anything else prints one
line and exits 1 (set ``SATGEO_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from satgeo import __version__
from satgeo.errors import SatgeoError

COMMAND_MODULES = ("geo", "render", "models", "train", "train_diffusion", "eval", "batch", "serve")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="satgeo")
def app() -> None:
    """Synthetic, georeferenced satellite imagery from map areas and vector layers."""


for _name in COMMAND_MODULES:
    try:
        _mod = importlib.import_module(f"satgeo.commands.{_name}")
    except ModuleNotFoundError as exc:  # a topic not written yet, or an optional extra missing
        if exc.name != f"satgeo.commands.{_name}":
            raise
        continue
    _mod.register(app)


def main() -> None:
    try:
        app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except SatgeoError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if os.environ.get("SATGEO_DEBUG"):
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} (set SATGEO_DEBUG=1 for details)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
