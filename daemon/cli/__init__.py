"""The `gatewatch` command line: the parser (``main``) and one module per group of commands.

``commands`` (archive, run, runs, history, approved, assess, ...), ``review`` (review,
decide, deployable, audit), ``policy`` (policy diff, regate), ``admin`` (reindex,
compact, config), ``notify`` (notify test, status), ``rejected``; ``output`` prints
tables and JSON. Only ``main`` turns exceptions into messages and exit codes.
"""

from __future__ import annotations

from daemon.cli.main import main

__all__ = ["main"]
