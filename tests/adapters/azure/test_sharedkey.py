"""SharedKey signing: a known answer, and the same Authorization as Microsoft's own SDK policy
(azure-storage-blob's SharedKeyCredentialPolicy) over generated requests. Azurite checks the
signature end to end in test_fetch."""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest
from azure.storage.blob._shared.authentication import SharedKeyCredentialPolicy
from hypothesis import given
from hypothesis import strategies as st

from adapters.azure import sharedkey

KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
PATH_CHARS = st.text(st.characters(codec="ascii", categories=("L", "N"), include_characters="-_.~/ "),
                     min_size=1, max_size=30)
VALUES = st.text(st.characters(codec="ascii", categories=("L", "N"), include_characters="-_.:,/ "), max_size=20)


def sdk_authorization(method: str, url: str, headers: dict[str, str]) -> str:
    request = PipelineRequest(HttpRequest(method, url, headers=dict(headers)), PipelineContext(None))
    policy = SharedKeyCredentialPolicy("acct", KEY)  # type: ignore[no-untyped-call]
    policy.on_request(request)  # type: ignore[no-untyped-call]
    return str(request.http_request.headers["Authorization"])


def test_string_to_sign_layout() -> None:
    text = sharedkey.string_to_sign(
        "GET", "acct", "/acct/models/a%20b.bin", [("comp", "list"), ("restype", "container")],
        {"x-ms-version": "2023-11-03", "x-ms-date": "Sat, 28 Nov 2026 07:00:00 GMT", "If-Match": '"0x1"',
         "Content-Length": "0"})
    assert text == ('GET\n\n\n\n\n\n\n\n"0x1"\n\n\n\n'
                    "x-ms-date:Sat, 28 Nov 2026 07:00:00 GMT\nx-ms-version:2023-11-03\n"
                    "/acct/acct/models/a%20b.bin\ncomp:list\nrestype:container")


@given(st.sampled_from(["GET", "HEAD"]), PATH_CHARS,
       st.dictionaries(st.sampled_from(["comp", "restype", "prefix", "marker", "maxresults", "delimiter"]),
                       VALUES, max_size=4),
       st.fixed_dictionaries({}, optional={"If-Match": VALUES.map(lambda v: f'"{v}"'),
                                           "If-None-Match": VALUES.map(lambda v: f'"{v}"'),
                                           "x-ms-range": st.just("bytes=0-99"),
                                           "x-ms-client-request-id": VALUES.filter(lambda v: v.strip() == v
                                                                                   and "  " not in v)}))
def test_same_authorization_as_the_sdk(method: str, path: str, query: dict[str, str], extra: dict[str, str]) -> None:
    headers = {"x-ms-version": "2023-11-03", "x-ms-date": "Sat, 28 Nov 2026 07:00:00 GMT", **extra}
    raw_path = "/container/" + quote(path, safe="/-_.~")
    pairs = sorted(query.items())
    url = "https://acct.blob.core.windows.net" + raw_path + ("?" + urlencode(pairs, quote_via=quote) if pairs else "")
    ours = sharedkey.authorization(KEY, method, "acct", raw_path, pairs, headers)
    assert ours == sdk_authorization(method, url, headers)
