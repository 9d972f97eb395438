"""``load_safetensors``: a safetensors file streamed into memory or GPU memory, no temporary file.

The format: 8 bytes little-endian header length N, N bytes of JSON (``{name: {dtype, shape,
data_offsets: [begin, end]}, "__metadata__": {...}}``, offsets relative to the data section),
then the data section. Reference: https://github.com/huggingface/safetensors#format

The data section goes into one destination buffer, read by several threads at once (HTTP
``Range`` connections, or ``preadv`` of a local blob). For CUDA each thread reads into its own two
pinned host buffers and copies each one to the GPU on its own stream while it reads the next, so
network (or disk) and host-to-device copies overlap. Tensors are views of that one buffer.
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelmanager_client.errors import ClientError, ProxyUnavailable
from modelmanager_client.fetch import locate
from modelmanager_client.info import DownloadInfo
from modelmanager_client.node import NodeTier
from modelmanager_client.ranged import CHUNK, FileRanges, RangeSource, fan_out
from modelmanager_client.transport import Choice, connections, open_source, report

if TYPE_CHECKING:
    import torch

HEAD_READ = 1 << 20
"""Bytes read first: the length prefix and, almost always, the whole header."""
_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
           "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "U16": "uint16",
           "U32": "uint32", "U64": "uint64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


@dataclass(frozen=True, slots=True)
class Header:
    data_start: int
    tensors: dict[str, dict[str, Any]]
    metadata: dict[str, str] = field(default_factory=dict)
    prefix: bytes = b""
    """The file's first bytes, read with the header (the start of the data section, for small files all of it)."""

    @property
    def data_read(self) -> bytes:
        """The part of the data section already in ``prefix``."""
        return self.prefix[self.data_start:self.data_start + self.data_length]

    @property
    def data_length(self) -> int:
        return max((int(t["data_offsets"][1]) for t in self.tensors.values()), default=0)


def parse_header(source: RangeSource) -> Header:
    first = bytearray(min(HEAD_READ, source.size))
    if len(first) < 8:
        raise ClientError(f"not a safetensors file: {source.size} bytes")
    source.read_into(0, memoryview(first))
    (length,) = struct.unpack("<Q", first[:8])
    if 8 + length > source.size:
        raise ClientError(f"not a safetensors file: header of {length} bytes in a file of {source.size}")
    if 8 + length > len(first):
        rest = bytearray(8 + length - len(first))
        source.read_into(len(first), memoryview(rest))
        first += rest
    doc = json.loads(bytes(first[8:8 + length]))
    metadata = doc.pop("__metadata__", None) or {}
    header = Header(8 + length, doc, metadata, bytes(first))
    if header.data_start + header.data_length > source.size:
        raise ClientError("safetensors header points past the end of the file")
    return header


def load_safetensors(info_or_path: DownloadInfo | str | os.PathLike[str], *, device: str = "cpu",
                     connections_per_file: int | None = None) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file on ``device`` (``"cpu"`` or ``"cuda:N"``).

    ``info_or_path``: a local file, or a ``DownloadInfo`` fetched from the node tier, the proxy's
    volume (path hand-off) or the proxy over HTTP, best first (``--explain`` / logging says which).
    """
    import torch

    workers = connections_per_file or connections()
    source, choice, what = _open(info_or_path)
    started = time.perf_counter()
    try:
        header = parse_header(source)
        target = torch.device(device)
        data = torch.empty(header.data_length, dtype=torch.uint8, device=target)
        have = len(header.data_read)
        if have:
            data[:have].copy_(torch.frombuffer(bytearray(header.data_read), dtype=torch.uint8))
        if target.type == "cuda":
            _to_cuda(source, header.data_start + have, data[have:], workers)
        else:
            view = host_view(data)[have:]
            fan_out(lambda off, n: source.read_into(header.data_start + have + off, view[off:off + n]),
                    header.data_length - have, workers)
    finally:
        source.close()
    report(what, choice.timed(source, source.size, time.perf_counter() - started))
    return {name: _tensor(data, spec) for name, spec in header.tensors.items()}


def _open(info_or_path: DownloadInfo | str | os.PathLike[str]) -> tuple[RangeSource, Choice, str]:
    if not isinstance(info_or_path, DownloadInfo):
        path = Path(info_or_path)
        return FileRanges(path, path.stat().st_size), Choice("file", str(path)), str(path)
    tier = NodeTier()
    key = info_or_path.key()
    try:
        remote, route = locate(info_or_path)
    except ProxyUnavailable:
        ref = tier.ref(key)
        held = tier.get(ref.digest, ref.size) if ref is not None else None
        if ref is None or held is None:
            raise
        return FileRanges(held, ref.size), Choice("node", f"node tier {held}", ("proxy unreachable",)), key
    source, choice = open_source(remote, route, tier, verify=True)
    return source, choice, key


def _to_cuda(source: RangeSource, start: int, data: torch.Tensor, workers: int) -> None:
    """Chunks read into per-thread pinned buffers (two each), copied on per-thread streams."""
    import torch

    lanes: list[_Lane] = []
    local = threading.local()
    lock = threading.Lock()

    def work(off: int, n: int) -> None:
        lane: _Lane | None = getattr(local, "lane", None)
        if lane is None:
            lane = local.lane = _Lane(data.device)
            with lock:
                lanes.append(lane)
        buffer = lane.next_buffer()
        source.read_into(start + off, host_view(buffer)[:n])
        with torch.cuda.stream(lane.stream):
            data[off:off + n].copy_(buffer[:n], non_blocking=True)
            lane.record()

    try:
        fan_out(work, data.numel(), workers)
    finally:
        torch.cuda.synchronize(data.device)
        lanes.clear()


class _Lane:
    """One reader thread's two pinned buffers and copy stream."""

    def __init__(self, device: torch.device) -> None:
        import torch

        self.stream = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
        self.buffers = [torch.empty(CHUNK, dtype=torch.uint8, pin_memory=True) for _ in range(2)]
        self.events: list[torch.cuda.Event | None] = [None, None]
        self.turn = 0

    def next_buffer(self) -> torch.Tensor:
        """The buffer to read into next, once its previous copy to the GPU has finished."""
        self.turn ^= 1
        event = self.events[self.turn]
        if event is not None:
            event.synchronize()
        return self.buffers[self.turn]

    def record(self) -> None:
        import torch

        event = torch.cuda.Event()  # type: ignore[no-untyped-call]
        event.record(self.stream)
        self.events[self.turn] = event


def host_view(tensor: torch.Tensor) -> memoryview:
    """A writable view of a contiguous host tensor's bytes (no numpy needed)."""
    size = tensor.numel() * tensor.element_size()
    if size == 0:
        return memoryview(bytearray())
    return memoryview((ctypes.c_ubyte * size).from_address(tensor.data_ptr())).cast("B")


def _tensor(data: torch.Tensor, spec: dict[str, Any]) -> torch.Tensor:
    import torch

    begin, end = (int(x) for x in spec["data_offsets"])
    name = _DTYPES.get(spec["dtype"])
    dtype = getattr(torch, name, None) if name else None
    if not isinstance(dtype, torch.dtype):
        raise ClientError(f"unsupported safetensors dtype {spec['dtype']!r}")
    raw = data[begin:end]
    if begin % dtype.itemsize:
        raw = raw.clone()  # a view needs the element's alignment
    return raw.view(dtype).reshape([int(d) for d in spec["shape"]])
