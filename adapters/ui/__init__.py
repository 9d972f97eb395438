"""The dashboard: an HTML page at ``/ui`` (and at ``/`` for browsers) that polls ``/v1/status``."""

from adapters.ui.routes import UiFrontend

__all__ = ["UiFrontend"]
