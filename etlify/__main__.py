"""``python -m etlify``: the command line."""

from .cli import main

raise SystemExit(main())
