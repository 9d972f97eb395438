"""S3's XML documents, read safely: ``defusedxml`` (no DTDs, entities or external references) on
bodies whose size the caller has already bounded, with tag names stripped of their namespace."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class NotXml(ValueError):
    """Not a well-formed XML document, or one with a DTD or entity declarations."""


def parse(body: bytes) -> Element:
    """The root element of ``body``; raises NotXml."""
    try:
        return fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise NotXml(str(exc) or type(exc).__name__) from exc


def tag(node: Element) -> str:
    """The element's name without its ``{namespace}``."""
    return node.tag.rpartition("}")[2]


def fields(node: Element) -> dict[str, str]:
    """The text of each child element by name (the last one of a repeated name)."""
    return {tag(child): child.text or "" for child in node}
