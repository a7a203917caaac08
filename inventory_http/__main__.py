"""``python -m inventory_http``: the ``inventory`` command."""

from __future__ import annotations

import sys

from inventory_http.cli import main

if __name__ == "__main__":
    sys.exit(main())
