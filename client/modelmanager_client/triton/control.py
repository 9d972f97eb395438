"""Pre-warming through the proxy's control API: ``POST /v1/prefetch`` and waiting on the job
(``GET /v1/jobs/{id}?wait=``). The job's ``version`` is what the URL named when it was listed
(for HF, the commit), and when it succeeds every selected file is in the proxy's cache.

The admin token is ``--admin-token``, else ``$MODELMANAGER_ADMIN_TOKEN``, else the ``admin-token``
file on the proxy's cache volume when it is mounted here (``MODELMANAGER_CACHE_MOUNT``).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from modelmanager_client import handoff
from modelmanager_client.errors import ClientError, ProxyUnavailable
from modelmanager_client.info import proxy_base
from modelmanager_client.remote import NETWORK_ERRORS, Endpoint, connect, get_json

TOKEN_ENV = "MODELMANAGER_ADMIN_TOKEN"


def admin_token(given: str | None) -> str | None:
    if given:
        return given
    if env := os.environ.get(TOKEN_ENV):
        return env
    volume = handoff.mount()
    if volume is not None:
        try:
            return (volume / "admin-token").read_text().strip() or None
        except OSError:
            return None
    return None


def prefetch(host: str | None, token: str | None, url: str, allow: list[str], ignore: list[str],
             upstream_token: str | None = None, timeout: float = 3600.0) -> dict[str, Any]:
    """Start a prefetch job and wait for it; returns the finished ``JobView``. ``upstream_token``: the
    HF token for a private or gated repo (the proxy uses it for this job and never stores it)."""
    endpoint = Endpoint.of(proxy_base(host))
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request: dict[str, Any] = {"url": url, "allow_patterns": allow, "ignore_patterns": ignore}
    if upstream_token and url.startswith("hf://"):
        request["token"] = upstream_token
    body = json.dumps(request).encode()
    conn = connect(endpoint, "POST /v1/prefetch")
    try:
        conn.request("POST", f"{endpoint.prefix}/v1/prefetch", body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
    except NETWORK_ERRORS as exc:
        raise ProxyUnavailable(f"POST /v1/prefetch: {exc}") from exc
    finally:
        conn.close()
    if response.status != 202:
        raise ClientError(f"prefetch {url}: {response.status} {answer[:300].decode('utf-8', 'replace')}")
    job: dict[str, Any] = json.loads(answer)
    deadline = time.monotonic() + timeout
    while job.get("finished_at") is None:
        if time.monotonic() > deadline:
            raise ClientError(f"prefetch {url}: job {job.get('id')} still running after {timeout:.0f}s")
        answer_json, _ = get_json(endpoint, f"{endpoint.prefix}/v1/jobs/{job['id']}?wait=10", headers)
        if not isinstance(answer_json, dict):
            raise ClientError(f"prefetch {url}: unexpected job answer")
        job = answer_json
    if job.get("state") != "succeeded":
        errors = "; ".join(f"{e.get('path') or url}: {e.get('error')}" for e in job.get("errors", []))
        raise ClientError(f"prefetch {url} failed: {errors or job.get('state')}")
    return job

