"""Access lines: body bytes actually promised (sendfile included), duration, cache outcome, and the
/v1/fetch target without its query string."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import ClientSession
from yarl import URL

from proxy.__main__ import build_app
from proxy.config import Settings
from proxy.observe.logs import AccessLogger
from tests.conftest import ServerFactory
from tests.fakes.fake_http import FakeUpstream

MiB = 1 << 20


@pytest.mark.parametrize("sendfile", [True, False])
async def test_access_line_counts_body_bytes_and_names_the_target(
        aiohttp_server: ServerFactory, make_settings: Callable[..., Settings], upstream: tuple[FakeUpstream, URL],
        caplog: pytest.LogCaptureFixture, sendfile: bool) -> None:
    fake, base = upstream
    body = bytes(range(256)) * (8 * MiB // 256)
    fake.add("/model.bin", body)
    logger = logging.getLogger("modelmanager.access.test")
    server = await aiohttp_server(build_app(make_settings(sendfile=sendfile)), access_log_class=AccessLogger,
                                  access_log=logger)
    fetch = server.make_url("/v1/fetch").with_query(url=str((base / "model.bin").with_query(sig="SECRET")))
    fake.add("/model.bin?sig=SECRET", body)
    lines: list[dict[str, Any]] = []
    with caplog.at_level(logging.INFO, logger=logger.name):
        async with ClientSession() as session:
            for _ in range(2):  # a miss (tailing the fill), then a hit (the blob)
                async with session.get(fetch) as response:
                    assert await response.read() == body
            async with session.get(fetch, headers={"Range": "bytes=10-19"}) as response:
                assert await response.read() == body[10:20]
        lines = [r.__dict__ for r in caplog.records if r.name == logger.name]
    assert [line["bytes"] for line in lines] == [len(body), len(body), 10]
    assert [line["cache"] for line in lines][1:] == ["hit", "hit"]
    assert {line["target"] for line in lines} == {str(base / "model.bin")}, "no query string in logs"
    assert all("SECRET" not in repr(line) for line in lines)
    assert all(line["duration_ms"] >= 0 for line in lines)
