"""``Catalogs``: model URLs parsed by the grammar registered for their scheme, and found their catalog."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from proxy.control.catalog import Catalogs, Snapshot
from proxy.control.urls import InvalidUrl, ModelUrl, UrlGrammar, split_url
from proxy.errors import Forbidden


@dataclass(frozen=True, slots=True)
class FakeUrl:
    scheme: str
    rest: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.scheme}://{self.rest}"


def _fake(text: str) -> FakeUrl:
    scheme, rest = split_url(text)
    if not rest:
        raise InvalidUrl("empty")
    return FakeUrl(scheme, rest)


FAKE = UrlGrammar(("fake", "fakes"), _fake)
OTHER = UrlGrammar(("other",), _fake)


class FakeCatalog:
    grammar = FAKE
    watchable = True

    async def snapshot(self, url: ModelUrl, token: str | None) -> Snapshot:
        raise NotImplementedError

    async def current(self, url: ModelUrl) -> str:
        raise NotImplementedError

    def hold(self, url: ModelUrl, version: str | None, public: bool) -> None:
        raise NotImplementedError


@pytest.fixture
def catalogs() -> tuple[Catalogs, FakeCatalog]:
    catalog = FakeCatalog()
    return Catalogs([catalog], known=(OTHER,)), catalog


@pytest.mark.parametrize("text", ["", "org/repo", "ftp://host/file", "fake://x\x00"])
def test_refuses_what_is_not_a_url_of_a_known_scheme(catalogs: tuple[Catalogs, FakeCatalog], text: str) -> None:
    with pytest.raises(InvalidUrl):
        catalogs[0].parse(text)


def test_unknown_scheme_names_the_known_ones(catalogs: tuple[Catalogs, FakeCatalog]) -> None:
    with pytest.raises(InvalidUrl, match=r"use other://, fake:// or fakes://"):
        catalogs[0].parse("ftp://host/file")


def test_parses_with_the_scheme_grammar_and_finds_its_catalog(catalogs: tuple[Catalogs, FakeCatalog]) -> None:
    registry, catalog = catalogs
    url = registry.parse("FAKES://a/b")
    assert url == FakeUrl("fakes", "a/b")
    assert registry.for_url(url) is catalog


def test_a_known_scheme_without_a_configured_adapter_is_forbidden(catalogs: tuple[Catalogs, FakeCatalog]) -> None:
    url = catalogs[0].parse("other://x")
    with pytest.raises(Forbidden, match="no adapter for other://"):
        catalogs[0].for_url(url)
