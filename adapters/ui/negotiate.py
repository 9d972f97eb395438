"""Who gets the dashboard at ``/``: a browser asking for HTML, never a model client.

``/`` answered 404 before the dashboard existed, and every client that is not a browser must keep
getting exactly that: Hugging Face clients (``huggingface_hub``, ``transformers``, ``hf`` CLI), S3
SDKs, curl and scripts. A request gets the page only if all of these hold:

- the method is GET or HEAD,
- ``Accept`` names ``text/html`` explicitly (``*/*`` or no ``Accept`` is not enough),
- it carries no credentials (``Authorization``) and no S3 signature (``X-Amz-*`` headers),
- it asks for no byte range,
- its ``User-Agent`` names none of the known HTTP client libraries.
"""

from __future__ import annotations

from collections.abc import Mapping

CLIENT_AGENTS = ("huggingface_hub", "hf_hub", "hf-xet", "hfhub", "transformers", "diffusers", "python-requests",
                 "python-urllib", "python-httpx", "aiohttp", "boto3", "botocore", "aws-cli", "aws-sdk",
                 "s3fs", "curl", "wget", "go-http-client", "runai")


def accepts_html(accept: str) -> bool:
    """True if ``Accept`` lists ``text/html`` with a non-zero quality (RFC 9110 §12.5.1)."""
    for item in accept.split(","):
        media, *params = (part.strip().lower() for part in item.split(";"))
        if media != "text/html":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def wants_dashboard(method: str, headers: Mapping[str, str]) -> bool:
    """Whether a request for ``/`` comes from a browser that should see the dashboard."""
    if method not in ("GET", "HEAD") or not accepts_html(headers.get("Accept", "")):
        return False
    if "Authorization" in headers or "Range" in headers:
        return False
    if any(name.lower().startswith("x-amz-") for name in headers):
        return False
    agent = headers.get("User-Agent", "").lower()
    return not any(token in agent for token in CLIENT_AGENTS)
