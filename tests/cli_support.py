"""Running the ``satgeo`` command in-process, for tests that read its exit code and output."""

from __future__ import annotations

import contextlib
import io
import sys


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run ``satgeo ARGS`` in this process: (exit code, stdout, stderr)."""
    from satgeo.cli import main

    out, err, saved = io.StringIO(), io.StringIO(), sys.argv
    sys.argv = ["satgeo", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved
    return code, out.getvalue(), err.getvalue()
