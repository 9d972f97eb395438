"""Answers from a committed blob and from an in-flight fill, with ranges and conditionals, on the
sendfile path and the pread path both (the ``sendfile`` setting), over real sockets.

``blob``: the object was read once before, so the answer is a hit sent from the committed blob.
``fill``: the request under test is the first, so it is answered from the fill it starts.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from multidict import CIMultiDict

from tests.proxy.read.conftest import ReadProxy

BODY = os.urandom(2 * (1 << 20) + 123)
SIZE = len(BODY)
Answer = tuple[int, CIMultiDict[str], bytes]
Ask = Callable[..., Awaitable[Answer]]


@pytest.fixture(params=[True, False], ids=["sendfile", "pread"])
def sendfile(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture(params=["blob", "fill"])
def where(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def ask(read_proxy: Callable[..., Awaitable[ReadProxy]], sendfile: bool, where: str) -> Ask:
    """Ask for a new object (``BODY``) with ``headers``, answered from a blob or a fill."""
    proxy = await read_proxy(sendfile=sendfile)
    names = itertools.count()

    async def ask(headers: Mapping[str, str] = {}, method: str = "GET", **obj: Any) -> Answer:
        path = f"/o{next(names)}.bin"
        proxy.fake.add(path, BODY, **obj)
        if where == "blob":
            warm = await proxy.get(path)
            assert (warm[1]["X-Cache"], warm[2]) == ("miss", BODY)
        answer = await proxy.get(path, headers, method=method)
        assert answer[1]["X-Cache"] == ("hit" if where == "blob" else "miss")
        assert proxy.fake.count(path) == 1
        return answer

    return ask


async def test_whole_object(ask: Ask) -> None:
    status, headers, body = await ask()
    assert (status, headers["Content-Length"], headers["ETag"], body == BODY) == (200, str(SIZE), '"v1"', True)


async def test_range(ask: Ask) -> None:
    status, headers, body = await ask({"Range": "bytes=100-199"})
    assert (status, headers["Content-Range"], body) == (206, f"bytes 100-199/{SIZE}", BODY[100:200])


async def test_suffix_range_includes_the_last_byte(ask: Ask) -> None:
    status, headers, body = await ask({"Range": "bytes=-10"})
    assert (status, headers["Content-Range"], body) == (206, f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}", BODY[-10:])


async def test_range_of_an_object_of_unknown_size(ask: Ask) -> None:
    """A chunked upstream body: the range is decided once the fill knows the size."""
    status, headers, body = await ask({"Range": "bytes=5-14"}, chunked=True)
    assert (status, headers["Content-Range"], body) == (206, f"bytes 5-14/{SIZE}", BODY[5:15])


async def test_unsatisfiable_range(ask: Ask) -> None:
    status, headers, body = await ask({"Range": f"bytes={SIZE}-"})
    assert (status, headers["Content-Range"], body) == (416, f"bytes */{SIZE}", b"")


async def test_malformed_range_is_ignored(ask: Ask) -> None:
    status, _, body = await ask({"Range": "bytes=oops"})
    assert (status, body == BODY) == (200, True)


async def test_if_none_match_current_is_not_modified(ask: Ask) -> None:
    status, headers, body = await ask({"If-None-Match": '"v1"'})
    assert (status, headers["ETag"], body) == (304, '"v1"', b"")


async def test_if_match_other_fails(ask: Ask) -> None:
    status, _, body = await ask({"If-Match": '"v0"'})
    assert (status, body) == (412, b"")


async def test_if_range_of_another_version_gets_the_whole_object(ask: Ask) -> None:
    status, _, body = await ask({"Range": "bytes=0-9", "If-Range": '"v0"'})
    assert (status, body == BODY) == (200, True)


async def test_if_range_of_this_version_gets_the_range(ask: Ask) -> None:
    status, _, body = await ask({"Range": "bytes=0-9", "If-Range": '"v1"'})
    assert (status, body) == (206, BODY[:10])


async def test_head(ask: Ask) -> None:
    status, headers, body = await ask(method="HEAD")
    assert (status, headers["Content-Length"], body) == (200, str(SIZE), b"")
