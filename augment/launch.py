"""The ``augment`` console script's entry point: the CLI imported under ``interrupts.quiet_start``, so Ctrl-C in
its first second is one line, not a traceback from inside an import."""

from __future__ import annotations

from augment import interrupts

__all__ = ["main"]


def main() -> None:
    interrupts.quiet_start()
    from augment.cli import main as cli

    interrupts.ready()
    cli()
