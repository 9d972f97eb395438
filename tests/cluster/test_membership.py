"""Every pod announces itself through Redis: /v1/status on any pod lists the whole cluster."""

from __future__ import annotations

import aiohttp
from yarl import URL

from tests.cluster.conftest import PodFactory


async def test_status_on_any_pod_lists_every_pod(start_pods: PodFactory, session: aiohttp.ClientSession) -> None:
    pods = await start_pods(3)
    want = sorted(p.name for p in pods)

    async def listed(url: URL) -> tuple[list[str], list[bool]]:
        async with session.get(url / "v1" / "status", headers=pods[0].admin) as r:
            doc = await r.json()
        return sorted(n["node_id"] for n in doc["nodes"]), [n["self"] for n in doc["nodes"]]

    for pod in pods:  # a pod announces itself before it starts listening
        names, selves = await listed(pod.url)
        assert names == want
        assert selves == [True, False, False], "this pod first, then its peers"
