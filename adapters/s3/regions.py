"""Region discovery: which region an AWS bucket lives in, learnt from S3's own wrong-region answers.

A request signed for the wrong region is answered (AWS S3 API reference, "Error responses"; and
what botocore's ``S3RegionRedirectorv2`` reads):

- ``301 PermanentRedirect`` (a regional endpoint that does not hold the bucket), with the
  ``x-amz-bucket-region`` header and ``<Endpoint>`` in the error XML;
- ``400 AuthorizationHeaderMalformed`` (signed for another region), with ``<Region>`` in the XML
  and usually ``x-amz-bucket-region``;
- on HEAD, where there is no body, only the header.

The request is then signed again once for the region found, and sent to that region's endpoint
when the route's endpoint is an AWS one (``s3.<region>.amazonaws.com``); other endpoints keep
their URL. The region is remembered per (endpoint, bucket) in a bounded memo.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from yarl import URL

from adapters.s3.xmldoc import NotXml, fields, parse
from proxy.memo import Memo

REGION_HEADER = "x-amz-bucket-region"
REGION_ERRORS = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"})
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d|[a-z0-9-]{2,32}")
_AWS_HOST = re.compile(r"s3(?:[.-](?:dualstack\.)?[a-z]{2}(?:-[a-z]+)+-\d)?\.amazonaws\.com")


@dataclass(frozen=True, slots=True)
class RegionAnswer:
    """What a non-success answer says about the bucket's region (None: nothing)."""

    region: str | None
    code: str | None


def from_answer(status: int, headers: dict[str, str], body: bytes) -> RegionAnswer:
    """The region an error answer names, when it is a wrong-region answer. ``headers`` lowercased."""
    code: str | None = None
    region = headers.get(REGION_HEADER)
    if body:
        try:
            error = fields(parse(body))
        except NotXml:
            error = {}
        code = error.get("Code")
        region = region or error.get("Region")
    wrong_region = status == 301 or code in REGION_ERRORS or (status == 400 and not body)
    return RegionAnswer(region if wrong_region and region and _REGION.fullmatch(region) else None, code)


def is_aws(url: URL) -> bool:
    return bool(_AWS_HOST.fullmatch(url.host or ""))


def regional_url(url: URL, region: str) -> URL:
    """The endpoint for ``region``: AWS endpoints become ``s3.<region>.amazonaws.com``."""
    if not is_aws(url):
        return url
    return url.with_host(f"s3.{region}.amazonaws.com")


class RegionMemo:
    def __init__(self, clock: Callable[[], float], max_entries: int = 4096) -> None:
        self._memo: Memo[tuple[str, str], str] = Memo(clock, max_entries=max_entries)

    def get(self, endpoint: URL, bucket: str) -> str | None:
        return self._memo.fresh((str(endpoint), bucket))

    def put(self, endpoint: URL, bucket: str, region: str) -> None:
        self._memo.put((str(endpoint), bucket), region)
