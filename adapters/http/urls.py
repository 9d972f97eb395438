"""``http(s)://`` model URLs: one file. The catalog applies the edge checks of ``/v1/fetch``."""

from __future__ import annotations

from dataclasses import dataclass

from yarl import URL

from proxy.control.urls import InvalidUrl, UrlGrammar, split_url


@dataclass(frozen=True, slots=True)
class HttpUrl:
    url: URL

    @property
    def scheme(self) -> str:
        return self.url.scheme

    @property
    def version(self) -> str | None:
        return None

    def __str__(self) -> str:
        return str(self.url)


def parse(text: str) -> HttpUrl:
    split_url(text)
    try:
        url = URL(text)
    except ValueError as exc:
        raise InvalidUrl(f"not a URL: {exc}") from exc
    if not url.host or url.user is not None or url.password is not None:
        raise InvalidUrl("an http(s) URL needs a host and no credentials")
    if url.fragment:
        url = url.with_fragment(None)
    return HttpUrl(url)


GRAMMAR = UrlGrammar(("http", "https"), parse)
