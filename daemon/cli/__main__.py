"""`python -m daemon.cli ARGS` is `gatewatch ARGS`."""

from __future__ import annotations

import sys

from daemon.cli.main import main

sys.exit(main())
