"""The List Blobs answer (``EnumerationResults`` XML), as the port's ``ObjectPage``.

A blob's ETag is Azure's own (``0x8D…``), quoted as in HTTP headers: stable for one version of
the blob, and the same in listings, HEAD and GET.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from proxy.errors import UpstreamUnavailable
from proxy.objectstore import ObjectPage, StoredObject

EPOCH = datetime.fromtimestamp(0, UTC)


def quoted(etag: str) -> str:
    etag = etag.strip()
    return etag if etag.startswith(('"', "W/")) else f'"{etag}"'


def http_date(text: str | None) -> datetime:
    """An RFC 1123 date (``Last-Modified``); the epoch when absent or malformed."""
    if not text:
        return EPOCH
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return EPOCH
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _name(node: Element | None) -> str | None:
    if node is None:
        return None
    text = node.text or ""
    return unquote(text) if node.get("Encoded") == "true" else text


def _blob(node: Element) -> StoredObject:
    name = _name(node.find("Name"))
    properties = node.find("Properties")
    if not name or properties is None:
        raise UpstreamUnavailable("Azure listing has a blob without a name or properties")
    size = properties.findtext("Content-Length", "")
    etag = properties.findtext("Etag", "")
    if not size.isdigit() or not etag:
        raise UpstreamUnavailable("Azure listing has a blob without a size or ETag")
    return StoredObject(name, int(size), quoted(etag), http_date(properties.findtext("Last-Modified")))


def parse_page(body: bytes, start_after: str | None = None) -> ObjectPage:
    """One List Blobs answer; entries at or before ``start_after`` are left out."""
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise UpstreamUnavailable(f"Azure listing is not XML: {exc}") from exc
    if root.tag != "EnumerationResults":
        raise UpstreamUnavailable(f"Azure listing has root <{root.tag[:40]}>")
    blobs = root.find("Blobs")
    if blobs is None:
        blobs = Element("Blobs")
    objects = [_blob(b) for b in blobs.findall("Blob")]
    prefixes = [p for p in (_name(n.find("Name")) for n in blobs.findall("BlobPrefix")) if p]
    if start_after is not None:
        objects = [o for o in objects if o.key > start_after]
        prefixes = [p for p in prefixes if p > start_after]
    marker = root.findtext("NextMarker") or None
    return ObjectPage(tuple(sorted(objects, key=lambda o: o.key)), tuple(sorted(prefixes)), marker)
