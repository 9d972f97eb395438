"""The List Blobs parser, with properties over generated answers."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.azure.listing import parse_page
from proxy.errors import UpstreamUnavailable

XML_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn", "Co")), min_size=1, max_size=30)
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def blob(name: str, size: int, etag: str) -> str:
    return (f"<Blob><Name>{escape(name)}</Name><Properties><Last-Modified>{format_datetime(WHEN, usegmt=True)}"
            f"</Last-Modified><Etag>{etag}</Etag><Content-Length>{size}</Content-Length></Properties></Blob>")


@given(st.lists(st.tuples(XML_TEXT, st.integers(0, 1 << 40), st.from_regex(r"0x[0-9A-F]{15}", fullmatch=True)),
                max_size=20, unique_by=lambda b: b[0]),
       st.lists(XML_TEXT, max_size=5, unique=True), st.none() | st.from_regex(r"[A-Za-z0-9!]{1,20}", fullmatch=True))
def test_generated_pages_parse(blobs: list[tuple[str, int, str]], prefixes: list[str], marker: str | None) -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?><EnumerationResults ContainerName="c"><Blobs>'
            + "".join(blob(*b) for b in blobs)
            + "".join(f"<BlobPrefix><Name>{escape(p)}</Name></BlobPrefix>" for p in prefixes)
            + "</Blobs>" + (f"<NextMarker>{marker}</NextMarker>" if marker else "<NextMarker />")
            + "</EnumerationResults>")
    page = parse_page(body.encode())
    assert [(o.key, o.size, o.etag) for o in page.objects] == sorted((n, s, f'"{e}"') for n, s, e in blobs)
    assert all(o.last_modified == WHEN for o in page.objects)
    assert page.prefixes == tuple(sorted(prefixes))
    assert page.next_token == marker


def test_encoded_names_are_decoded() -> None:
    body = (b'<EnumerationResults><Blobs><Blob><Name Encoded="true">a%01b</Name><Properties>'
            b"<Etag>0x1</Etag><Content-Length>1</Content-Length></Properties></Blob></Blobs></EnumerationResults>")
    assert [o.key for o in parse_page(body).objects] == ["a\x01b"]


@given(st.binary(max_size=200) | XML_TEXT.map(lambda t: f"<EnumerationResults><Blobs>{t}</Blobs></EnumerationResults>"
                                              .encode()))
def test_any_body_parses_or_is_upstream_unavailable(body: bytes) -> None:
    with contextlib.suppress(UpstreamUnavailable):
        parse_page(body)


def test_entity_expansion_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<EnumerationResults><Blobs><Blob><Name>&b;</Name></Blob></Blobs></EnumerationResults>")
    with pytest.raises(UpstreamUnavailable):
        parse_page(bomb)
