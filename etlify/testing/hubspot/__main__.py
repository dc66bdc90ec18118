"""``python -m etlify.testing.hubspot``: serve a FakeHubSpot until interrupted."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
