"""``python -m modelmanager_client``: the CLI, where the console script is not on PATH."""

from __future__ import annotations

import sys

from modelmanager_client.cli import main

sys.exit(main())
