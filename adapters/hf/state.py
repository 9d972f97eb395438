"""What the HF adapter remembers between requests: revisions, file metadata, access decisions and
API answers. In memory, per node; the durable truth (file bytes and their metadata) is the index.

Access decisions are keyed by (repo, token hash): a file cached from a private or gated repo is
served only to a token the Hub accepted for that repo within ``access_ttl`` seconds (or, while the
Hub is unreachable, to a token it accepted last time). Tokens themselves are never stored or logged.

Every memo is a ``proxy.memo.Memo``: ``fresh`` within a TTL (None: immutable facts), ``last``
regardless of age (stale-if-error). API answers are keyed by a hash of the request body, and
answers to bodies over ``MAX_MEMO_BODY`` are not remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from adapters.hf.client import ApiAnswer
from adapters.hf.files import FileInfo
from adapters.hf.repo import RepoRef
from proxy.errors import UpstreamRejected
from proxy.memo import Memo

MAX_ENTRIES = 100_000
MAX_API_ENTRIES = 10_000
MAX_API_BYTES = 256 << 20
"""What the remembered API answers (repo info, tree pages) of one node may hold in all."""
MAX_MEMO_BODY = 64 << 10
RETAIN = 86400.0
"""Seconds anything is remembered at most (also what stale-if-error may serve when the Hub is down)."""
"""The largest POST body (a paths-info request) whose answer is remembered."""


def token_id(token: str | None) -> str:
    return "anonymous" if token is None else hashlib.sha256(token.encode()).hexdigest()[:32]


class ApiKey(NamedTuple):
    """One API request, as remembered: the body by its hash and size, never the body itself."""

    token: str
    method: str
    raw_path: str
    body_sha256: str | None
    body_size: int


def api_key(token: str, method: str, raw_path: str, body: bytes | None) -> ApiKey:
    """``token``: a ``token_id``."""
    digest = None if body is None else hashlib.sha256(body).hexdigest()
    return ApiKey(token, method, raw_path, digest, len(body or b""))


class ApiAnswers(Memo[ApiKey, ApiAnswer]):
    """Remembered API answers, bounded in entries and bytes; never those to large request bodies."""

    def __init__(self, clock: Callable[[], float]) -> None:
        super().__init__(clock, max_entries=MAX_API_ENTRIES, max_bytes=MAX_API_BYTES, sizeof=_answer_size,
                         ttl=RETAIN)

    def put(self, key: ApiKey, value: ApiAnswer) -> list[tuple[ApiKey, ApiAnswer]]:
        if key.body_size > MAX_MEMO_BODY:
            return []
        return super().put(key, value)


def _answer_size(answer: ApiAnswer) -> int:
    return len(answer.body) + sum(len(k) + len(v) for k, v in answer.headers.items())


@dataclass(frozen=True, slots=True)
class Access:
    allowed: bool
    rejection: UpstreamRejected | None = None


class HubState:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.revisions: Memo[tuple[RepoRef, str], str] = Memo(clock, max_entries=MAX_ENTRIES, ttl=RETAIN)
        """(repo, revision) -> commit"""
        self.files: Memo[tuple[RepoRef, str, str], FileInfo] = Memo(clock, max_entries=MAX_ENTRIES, ttl=RETAIN)
        """(repo, commit, path) -> FileInfo (immutable)"""
        self.access: Memo[tuple[RepoRef, str], Access] = Memo(clock, max_entries=MAX_ENTRIES, ttl=RETAIN)
        """(repo, token id) -> decision"""
        self.api = ApiAnswers(clock)
        self.held: dict[tuple[RepoRef, str], str] = {}
        """(repo, branch) -> the commit served as the branch's head while a watch pre-warms the next one."""

    def remember_file(self, info: FileInfo) -> None:
        self.files.put((info.repo, info.commit, info.path), info)

    def allow(self, repo: RepoRef, token: str | None) -> None:
        self.access.put((repo, token_id(token)), Access(True))

    def deny(self, repo: RepoRef, token: str | None, rejection: UpstreamRejected) -> None:
        self.access.put((repo, token_id(token)), Access(False, rejection))
