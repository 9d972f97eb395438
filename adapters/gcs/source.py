"""``GcsSource``: one GCS object for the core, ``gs:<bucket>/<name>`` in the index.

A download is one media GET (``alt=media``); GCS answers it with the object's generation and its
MD5 and CRC32C (``x-goog-generation``, ``x-goog-hash``), which become the validators and the
checksums the fill is verified against before commit. A resumed or segmented request must read
the version it continues: a ``"g<generation>"`` ETag pins it with ``ifGenerationMatch`` (a 412
when the object was replaced), an MD5 ETag is compared with the answer's ``x-goog-hash`` before a
byte of the body is read (equal MD5s are the same bytes). Either way a change raises
UpstreamChanged, so two versions are never spliced. Revalidation reads the object's metadata
(no body) and downloads only when its ETag changed, pinned to the generation it saw.
"""

from __future__ import annotations

import aiohttp

from adapters.gcs.api import GcsApi, rejection
from adapters.gcs.listing import checksums, etag, parse_hash_header
from proxy.errors import RangeIgnored, UpstreamChanged, UpstreamUnavailable
from proxy.read.ranges import ContentRange
from proxy.upstream import NOT_MODIFIED, Fetched, FetchRequest, NotModified, ObjectMeta, ResponseBody, Validators


def cache_key(bucket: str, name: str) -> str:
    return f"gs:{bucket}/{name}"


def _generation_of(tag: str | None) -> str | None:
    """The generation a ``"g<generation>"`` ETag names, else None."""
    if tag and tag.startswith('"g') and tag.endswith('"') and tag[2:-1].isdigit():
        return tag[2:-1]
    return None


class GcsSource:
    def __init__(self, api: GcsApi, bucket: str, name: str) -> None:
        self.api = api
        self.bucket = bucket
        self.name = name
        self.key = cache_key(bucket, name)

    async def fetch(self, request: FetchRequest) -> Fetched | NotModified:
        query = [("alt", "media")]
        if request.if_none_match is not None and request.if_none_match.etag:
            info = await self.api.json(self.api.object_path(self.bucket, self.name))
            if not isinstance(info, dict) or "generation" not in info:
                raise UpstreamUnavailable("GCS object metadata without a generation")
            md5 = info.get("md5Hash")
            current = etag(md5 if isinstance(md5, str) else None, str(info["generation"]))
            if current == request.if_none_match.etag:
                return NOT_MODIFIED
            query.append(("generation", str(info["generation"])))
        headers: dict[str, str] = {}
        expected = request.if_range.etag if request.ranged and request.if_range is not None else None
        if request.ranged:
            headers["Range"] = request.range_header()
            if (generation := _generation_of(expected)) is not None:
                query.append(("ifGenerationMatch", generation))
        response = await self.api.request("GET", self.api.object_path(self.bucket, self.name), query, headers)
        try:
            pinned = any(name == "generation" for name, _ in query)
            return await self._interpret(response, request, expected, pinned)
        except BaseException:
            response.close()
            raise

    async def _interpret(self, response: aiohttp.ClientResponse, request: FetchRequest,
                         expected: str | None, pinned: bool) -> Fetched:
        status = response.status
        if status == 412 and request.ranged:
            raise UpstreamChanged(f"{self.key} changed upstream during the download (generation)")
        if status == 404 and pinned:
            # the generation the metadata named was replaced since: ask again later
            raise UpstreamUnavailable(f"{self.key} was replaced while it was revalidated")
        if status not in (200, 206):
            raise await rejection(response)
        if request.end is not None and status == 200:
            raise RangeIgnored(f"GCS answered 200 to Range: {request.range_header()}")
        answered = ContentRange.parse(response.headers.get("Content-Range")) if status == 206 else None
        if (status == 206) != request.ranged or (answered is not None and answered.start != request.offset):
            raise UpstreamUnavailable(f"GCS answered {status} with an unexpected range")
        hashes = parse_hash_header(", ".join(response.headers.getall("x-goog-hash", [])))
        generation = response.headers.get("x-goog-generation")
        tag = etag(hashes.get("md5"), generation)
        if expected and tag != expected:
            raise UpstreamChanged(f"{self.key} changed upstream during the download ({expected} -> {tag})")
        if answered is not None:
            size = answered.size
        else:
            length = response.headers.get("Content-Length")
            size = int(length) if length and length.isdigit() else None
        transcoded = response.headers.get("x-goog-stored-content-encoding", "identity") != "identity"
        meta = ObjectMeta(size=size, content_type=response.headers.get("Content-Type", "application/octet-stream"),
                          validators=Validators(tag, response.headers.get("Last-Modified")),
                          checksums=checksums(hashes.get("md5"), hashes.get("crc32c"))
                          if status == 200 and not transcoded else (),
                          attributes=(("x-goog-generation", generation),) if generation else ())
        return ResponseBody(response, meta, "GCS")

