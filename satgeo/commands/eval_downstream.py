"""`satgeo eval downstream` (placeholder, filled in below)."""
import click


@click.command("downstream")
def downstream_cmd() -> None:
    """Does synthetic data help a real segmentation task?"""
