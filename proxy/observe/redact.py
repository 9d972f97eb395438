"""Credentials out of text that leaves the process: log lines, ``/v1/status``, anything shown.

``redact`` is the one function that takes credentials out of URLs and of the cache keys made from
them (``http:<url>``): presigned signatures, tokens in query strings and URL passwords.
"""

from __future__ import annotations

import re

REDACTED = "REDACTED"
SECRET_PARAMS = ("x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
                 "x-goog-credential", "signature", "sig", "token", "access_token", "api_key", "apikey",
                 "key-pair-id", "policy", "googleaccessid", "password", "secret")
"""Query parameters whose values are credentials (SigV4, GCS, CloudFront, Azure SAS, tokens), any case."""
_SECRET_PARAM = re.compile(r"(?i)((?:[?&;]|%3F|%26)(?:" + "|".join(re.escape(p) for p in SECRET_PARAMS)
                           + r")(?:=|%3D))(?:[^&;#%\s\"'<>]|%(?!26|23))*")
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s\"'<>]+@")


def redact(text: str) -> str:
    """``text`` with the values of credential query parameters and URL user-info replaced by
    ``REDACTED``; everything else (host, path, other parameters) is kept for the operator."""
    if "=" not in text and "@" not in text and "%3D" not in text.upper():
        return text
    return _USERINFO.sub(rf"\1{REDACTED}@", _SECRET_PARAM.sub(rf"\1{REDACTED}", text))
