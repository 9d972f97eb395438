"""Finding the external tools deploy tests run: a clear failure under CI, a skip on a workstation."""

from __future__ import annotations

import os

import pytest


def missing(tool: str, how: str) -> None:
    """Fail (``CI`` is set) or skip: ``tool`` is not installed; ``how`` says how to get it."""
    message = f"{tool} is not available: {how}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
