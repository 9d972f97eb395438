"""``hf://`` model URLs: a repo, a folder or a file at a revision.

    hf://[datasets/|spaces/]org/repo[@revision][/path]

The grammar checks shape only (names, no dot segments); the catalog checks the rest (whether the
repo exists, who may read it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from adapters.hf.repo import FROM_PREFIX, NAME, URL_PREFIX, RepoType
from proxy.control.urls import InvalidUrl, UrlGrammar, segments, split_url


@dataclass(frozen=True, slots=True)
class HfUrl:
    repo_type: RepoType
    repo_id: str
    revision: str | None = None
    """None: the repo's default branch (``main``)."""
    path: str | None = None
    """A file or folder inside the repo; None: the whole repo."""

    @property
    def scheme(self) -> str:
        return "hf"

    @property
    def version(self) -> str | None:
        return self.revision

    @property
    def ref(self) -> str:
        return self.revision or "main"

    def at(self, revision: str) -> HfUrl:
        return replace(self, revision=revision)

    def __str__(self) -> str:
        text = f"hf://{URL_PREFIX[self.repo_type]}{self.repo_id}"
        if self.revision is not None:
            text += f"@{self.revision}"
        return text + (f"/{self.path}" if self.path else "")


def parse(text: str) -> HfUrl:
    _, rest = split_url(text)
    parts = segments(rest.rstrip("/"), "hf:// URL") if rest.rstrip("/") else []
    repo_type: RepoType = "model"
    if parts and parts[0] in FROM_PREFIX:
        repo_type, parts = FROM_PREFIX[parts[0]], parts[1:]
    if len(parts) < 2:
        raise InvalidUrl("hf:// needs org/repo, e.g. hf://openai-community/gpt2")
    org, name_rev, path_parts = parts[0], parts[1], parts[2:]
    name, at, revision = name_rev.partition("@")
    if not NAME.fullmatch(org) or not NAME.fullmatch(name):
        raise InvalidUrl(f"not a repo id: {org}/{name}")
    if at and not revision:
        raise InvalidUrl("empty revision after @")
    if revision and (len(revision) > 256 or ".." in revision):
        raise InvalidUrl(f"not a revision: {revision[:100]!r}")
    return HfUrl(repo_type, f"{org}/{name}", revision or None, "/".join(path_parts) or None)


GRAMMAR = UrlGrammar(("hf",), parse)
