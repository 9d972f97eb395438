"""What the Hub says about one file at one commit, and how it maps to cache keys and what the cache holds."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.hf.repo import RepoRef
from proxy.digest import Checksum
from proxy.read.core import Cached
from proxy.upstream import ObjectMeta, Validators


@dataclass(frozen=True, slots=True)
class FileInfo:
    repo: RepoRef
    commit: str
    path: str
    size: int
    oid: str | None  # git blob sha1 (of the pointer file, for LFS)
    lfs_sha256: str | None  # set for LFS files
    content_type: str = "application/octet-stream"

    @property
    def etag(self) -> str:
        """What the Hub calls the file's etag (the client names its blob after it), quoted."""
        return f'"{self.lfs_sha256 or self.oid}"'

    @property
    def key(self) -> str:
        return content_key(self.repo, self.commit, self.path)

    def checksums(self) -> tuple[Checksum, ...]:
        if self.lfs_sha256:
            return (Checksum("sha256", self.lfs_sha256),)
        if self.oid:
            return (Checksum("git-sha1", self.oid),)
        return ()

    def attributes(self) -> tuple[tuple[str, str], ...]:
        attrs = [("hf_commit", self.commit)]
        if self.oid:
            attrs.append(("hf_oid", self.oid))
        if self.lfs_sha256:
            attrs.append(("hf_lfs_sha256", self.lfs_sha256))
        return tuple(attrs)

    def meta(self) -> ObjectMeta:
        """What the Hub says about the file, as the core keeps it: one version forever."""
        return ObjectMeta(size=self.size, content_type=self.content_type, validators=Validators(etag=self.etag),
                          checksums=self.checksums(), immutable=True, attributes=self.attributes())

    @classmethod
    def from_cached(cls, repo: RepoRef, commit: str, path: str, cached: Cached) -> FileInfo | None:
        attrs = cached.attributes
        if attrs.get("hf_commit") != commit:
            return None
        return cls(repo, commit, path, cached.size, attrs.get("hf_oid"), attrs.get("hf_lfs_sha256"),
                   cached.content_type)


def content_key(repo: RepoRef, commit: str, path: str) -> str:
    return f"hf:{repo}@{commit}/{path}"
