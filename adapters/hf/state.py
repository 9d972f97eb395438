"""What the HF adapter remembers between requests: revisions, file metadata, access decisions and
API answers. In memory, per node; the durable truth (file bytes and their metadata) is the index.

Access decisions are keyed by (repo, token hash): a file cached from a private or gated repo is
served only to a token the Hub accepted for that repo within ``access_ttl`` seconds (or, while the
Hub is unreachable, to a token it accepted last time). Tokens themselves are never stored or logged.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from adapters.hf.client import ApiAnswer
from adapters.hf.files import FileInfo
from adapters.hf.repo import RepoRef
from proxy.errors import UpstreamRejected

V = TypeVar("V")


def token_id(token: str | None) -> str:
    return "anonymous" if token is None else hashlib.sha256(token.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Stamped(Generic[V]):
    value: V
    at: float


class Memo(Generic[V]):
    """A bounded LRU of time-stamped values; ``fresh`` within a TTL, ``last`` regardless of age."""

    def __init__(self, clock: Callable[[], float], limit: int = 100_000) -> None:
        self._clock = clock
        self._limit = limit
        self._items: OrderedDict[Hashable, Stamped[V]] = OrderedDict()

    def put(self, key: Hashable, value: V) -> None:
        self._items[key] = Stamped(value, self._clock())
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def last(self, key: Hashable) -> V | None:
        item = self._items.get(key)
        return None if item is None else item.value

    def fresh(self, key: Hashable, ttl: float | None) -> V | None:
        """``ttl`` None: values never go stale (immutable facts)."""
        item = self._items.get(key)
        if item is None or (ttl is not None and self._clock() - item.at >= ttl):
            return None
        self._items.move_to_end(key)
        return item.value


@dataclass(frozen=True, slots=True)
class Access:
    allowed: bool
    rejection: UpstreamRejected | None = None


class HubState:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.revisions: Memo[str] = Memo(clock)  # (repo, revision) -> commit
        self.files: Memo[FileInfo] = Memo(clock)  # (repo, commit, path) -> FileInfo (immutable)
        self.access: Memo[Access] = Memo(clock)  # (repo, token id) -> decision
        self.api: Memo[ApiAnswer] = Memo(clock, limit=10_000)  # (token id, method, raw path, body) -> answer
        self.held: dict[tuple[RepoRef, str], str] = {}
        """(repo, branch) -> the commit served as the branch's head while a watch pre-warms the next one."""

    def remember_file(self, info: FileInfo) -> None:
        self.files.put((info.repo, info.commit, info.path), info)

    def allow(self, repo: RepoRef, token: str | None) -> None:
        self.access.put((repo, token_id(token)), Access(True))

    def deny(self, repo: RepoRef, token: str | None, rejection: UpstreamRejected) -> None:
        self.access.put((repo, token_id(token)), Access(False, rejection))
