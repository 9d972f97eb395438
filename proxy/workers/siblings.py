"""Prefetch jobs live in the memory of the worker that runs them; any worker answers for them.

The kernel hands each connection to any worker, so ``GET /v1/jobs/{id}`` may reach a worker that
does not run the job. Each worker also listens on its own Unix socket in the supervisor's private
run directory; a job lookup that misses here is asked of the siblings there (first answer that is
not 404 wins), and ``GET /v1/jobs`` merges every worker's list. A forwarded request carries
``LOCAL`` (answer from this worker alone) and the caller's ``Authorization``: each worker checks
the admin token itself.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, UnixConnector, web
from aiohttp.typedefs import Handler

from proxy.workers.env import WorkerEnv

LOCAL = "X-Modelmanager-Local"
TIMEOUT = ClientTimeout(total=40.0)
"""Longer than the longest ``?wait=`` the control API honours (30 s)."""


class Siblings:
    def __init__(self, env: WorkerEnv) -> None:
        self.paths = [env.sibling_socket(i) for i in range(env.count) if i != env.index]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        if LOCAL in request.headers or not request.path.startswith("/v1/jobs"):
            return response
        if request.path == "/v1/jobs" and request.method == "GET" and isinstance(response, web.Response) \
                and response.status == 200 and isinstance(response.body, bytes):
            jobs: list[Any] = json.loads(response.body)
            for path in self.paths:
                answer = await self._ask(path, request)
                if answer is not None and answer[0] == 200:
                    jobs += json.loads(answer[1])
            return web.json_response(jobs)
        if response.status == 404 and request.path.startswith("/v1/jobs/"):
            for path in self.paths:
                answer = await self._ask(path, request)
                if answer is not None and answer[0] != 404:
                    return web.Response(status=answer[0], body=answer[1], content_type=answer[2])
        return response

    async def _ask(self, path: str, request: web.Request) -> tuple[int, bytes, str] | None:
        """The sibling's answer to the same request, or None when it cannot be reached (restarting)."""
        headers = {LOCAL: "1"}
        if "Authorization" in request.headers:
            headers["Authorization"] = request.headers["Authorization"]
        try:
            async with ClientSession(connector=UnixConnector(path), timeout=TIMEOUT) as session, \
                    session.request(request.method, f"http://worker{request.path_qs}", headers=headers) as r:
                return r.status, await r.read(), r.content_type
        except (ClientError, OSError, TimeoutError):
            return None
