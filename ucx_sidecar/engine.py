"""What a data-plane engine (ucxx or NIXL) does for the control channel."""

from __future__ import annotations

from typing import Any, Protocol


class Engine(Protocol):
    name: str

    async def start(self) -> None:
        """Initialise UCX / create the agent (inside the serving event loop)."""

    async def target(self, request: dict[str, Any], state: dict[str, Any]) -> Any:
        """The client's endpoint the request names (cached in the connection's ``state``);
        raises ``Refused`` for a malformed one."""

    async def send(self, target: Any, view: memoryview, request: dict[str, Any]) -> None:
        """Move ``view`` into the client's buffer; returns once it has landed."""

    def forget(self, state: dict[str, Any]) -> None:
        """Drop what ``target`` cached for a closed connection."""
