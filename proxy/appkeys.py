"""Every aiohttp AppKey of the application, in one place."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession, web

from proxy.cluster.claims import SharedUsage
from proxy.cluster.membership import Membership
from proxy.cluster.port import Coordinator
from proxy.config import Settings
from proxy.connections import ConnectionGuard
from proxy.control.api import Control
from proxy.control.guard import Guard
from proxy.fill.registry import Fills
from proxy.observe.metrics import Metrics
from proxy.observe.status import Status
from proxy.read.core import Core
from proxy.read.driver import Cache
from proxy.read.send import ServeOptions

SETTINGS = web.AppKey("settings", Settings)
CACHE = web.AppKey("cache", Cache)
CORE = web.AppKey("core", Core)
FILLS = web.AppKey("fills", Fills)
METRICS = web.AppKey("metrics", Metrics)
SERVE_OPTIONS = web.AppKey("serve_options", ServeOptions)
COORDINATOR = web.AppKey("coordinator", Coordinator)
UPSTREAM_SESSION = web.AppKey("upstream_session", ClientSession)
STATUS = web.AppKey("status", Status)
MEMBERSHIP = web.AppKey("membership", Membership)
CONTROL = web.AppKey("control", Control)
SHARED_USAGE = web.AppKey("shared_usage", SharedUsage)
CONNECTIONS = web.AppKey("connections", ConnectionGuard)
GUARD = web.AppKey("guard", Guard)
STOPPING = web.AppKey("stopping", asyncio.Event)
"""Set when a signal asked the server to stop: ``/readyz`` answers 503 from then on."""
