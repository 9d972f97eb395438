"""What the HF adapter remembers between requests: revisions, file metadata, access decisions and
API answers. In memory, per node; the durable truth (file bytes and their metadata) is the index.

Access decisions are keyed by (repo, token hash): a file cached from a private or gated repo is
served only to a token the Hub accepted for that repo within ``access_ttl`` seconds (or, while the
Hub is unreachable, to a token it accepted last time). Tokens themselves are never stored or logged.

Every memo is bounded by bytes and by ``RETAIN`` (``proxy.memo``); API answers are keyed by a hash
of (token id, method, path, body), and bodies over ``MAX_KEYED_BODY`` are never keyed at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from adapters.hf.client import ApiAnswer
from adapters.hf.files import FileInfo
from adapters.hf.repo import RepoRef
from proxy.errors import UpstreamRejected
from proxy.memo import Memo

RETAIN = 24 * 3600.0
"""Seconds anything is remembered at most; what is older is asked of the Hub again (or, while the
Hub is unreachable, no longer served from memory)."""
API_BYTES = 64 << 20
"""Memory for API answers; one answer larger than ``MAX_API_ANSWER`` is not kept."""
MAX_API_ANSWER = 8 << 20
MAX_KEYED_BODY = 64 << 10
"""POST bodies larger than this (e.g. a huge ``paths-info`` list) are never answered from memory."""
SMALL_BYTES = 16 << 20
"""Memory for each of the revision, file and access memos."""


def token_id(token: str | None) -> str:
    return "anonymous" if token is None else hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def api_answer_size(answer: ApiAnswer) -> int:
    return len(answer.body) + sum(len(k) + len(v) for k, v in answer.headers.items())


@dataclass(frozen=True, slots=True)
class Access:
    allowed: bool
    rejection: UpstreamRejected | None = None


class HubState:
    def __init__(self, clock: Callable[[], float], retain: float = RETAIN) -> None:
        self.revisions: Memo[str] = Memo(clock, SMALL_BYTES, retain, len)  # (repo, revision) -> commit
        self.files: Memo[FileInfo] = Memo(clock, SMALL_BYTES, retain, _file_size)  # (repo, commit, path) -> FileInfo
        self.access: Memo[Access] = Memo(clock, SMALL_BYTES, retain, _access_size)  # (repo, token id) -> decision
        self.api: Memo[ApiAnswer] = Memo(clock, API_BYTES, retain, api_answer_size, MAX_API_ANSWER)
        """memo_key(token id, method, raw path, body) -> answer."""
        self.held: dict[tuple[RepoRef, str], str] = {}
        """(repo, branch) -> the commit served as the branch's head while a watch pre-warms the next one."""

    def remember_file(self, info: FileInfo) -> None:
        self.files.put((info.repo, info.commit, info.path), info)

    def allow(self, repo: RepoRef, token: str | None) -> None:
        self.access.put((repo, token_id(token)), Access(True))

    def deny(self, repo: RepoRef, token: str | None, rejection: UpstreamRejected) -> None:
        self.access.put((repo, token_id(token)), Access(False, rejection))


def _file_size(info: FileInfo) -> int:
    return len(info.path) + len(info.repo.id) + 256


def _access_size(access: Access) -> int:
    return len(access.rejection.body) if access.rejection is not None else 0
