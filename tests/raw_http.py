"""Send a request exactly as written (bytes a well-behaved client library would refuse to send)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from multidict import CIMultiDict


@dataclass(frozen=True, slots=True)
class RawAnswer:
    status: int
    headers: CIMultiDict[str]
    body: bytes


async def raw_request(host: str, port: int | None, head: bytes, body: bytes = b"") -> RawAnswer:
    """Write ``head`` (request line and headers, without the blank line) and ``body``; read one
    answer to the end (the request asks for ``Connection: close``)."""
    assert port is not None, "the server is not listening"
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(head.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    header_block, _, rest = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    return RawAnswer(status, headers, rest)
