"""The Triton emulator's two front doors over one ``TritonCore``:

- HTTP/REST (KServe v2 plus Triton's extensions; triton-inference-server/server
  ``docs/protocol/extension_model_repository.md``, ``extension_model_configuration.md``):
  ``GET /v2/health/ready``, ``POST /v2/repository/index``, ``POST /v2/repository/models/{m}/load``
  and ``/unload``, ``GET /v2/models/{m}[/versions/{v}]/config`` and ``/ready``. Errors are
  ``{"error": "<message>"}`` with status 400, as Triton answers them.
- gRPC (``GRPCInferenceService`` of triton-inference-server/common ``grpc_service.proto``, the stubs
  tritonclient ships): ServerLive, ServerReady, ModelReady, RepositoryIndex, RepositoryModelLoad,
  RepositoryModelUnload, ModelConfig; errors are the status code Triton maps its own to.
"""

from __future__ import annotations

import json
from typing import Any

import grpc
from aiohttp import web
from tritonclient.grpc import service_pb2, service_pb2_grpc

from tests.fakes.triton.core import EmulatorError, TritonCore

_GRPC_CODES = {"INVALID_ARG": grpc.StatusCode.INVALID_ARGUMENT, "INTERNAL": grpc.StatusCode.INTERNAL,
               "NOT_FOUND": grpc.StatusCode.NOT_FOUND}


def http_app(core: TritonCore) -> web.Application:
    def error(exc: EmulatorError) -> web.Response:
        return web.json_response({"error": str(exc)}, status=400)

    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200)

    async def index(request: web.Request) -> web.Response:
        body = await request.read()
        ready_only = bool(json.loads(body).get("ready", False)) if body.strip() else False
        return web.json_response(core.index(ready_only))

    async def load(request: web.Request) -> web.Response:
        body = await request.read()
        parameters: dict[str, Any] = json.loads(body).get("parameters", {}) if body.strip() else {}
        try:
            core.load(request.match_info["model"], parameters.get("config"))
        except EmulatorError as exc:
            return error(exc)
        return web.Response(status=200)

    async def unload(request: web.Request) -> web.Response:
        core.unload(request.match_info["model"])
        return web.Response(status=200)

    async def config(request: web.Request) -> web.Response:
        try:
            return web.Response(text=core.config_json(request.match_info["model"]), content_type="application/json")
        except EmulatorError as exc:
            return error(exc)

    async def model_ready(request: web.Request) -> web.Response:
        ok = core.model_ready(request.match_info["model"], request.match_info.get("version", ""))
        return web.Response(status=200 if ok else 400)

    app = web.Application()
    app.router.add_get("/v2/health/ready", ready)
    app.router.add_get("/v2/health/live", ready)
    app.router.add_post("/v2/repository/index", index)
    app.router.add_post("/v2/repository/models/{model}/load", load)
    app.router.add_post("/v2/repository/models/{model}/unload", unload)
    for prefix in ("/v2/models/{model}", "/v2/models/{model}/versions/{version}"):
        app.router.add_get(f"{prefix}/config", config)
        app.router.add_get(f"{prefix}/ready", model_ready)
    return app


class GrpcService(service_pb2_grpc.GRPCInferenceServiceServicer):  # type: ignore[misc]
    def __init__(self, core: TritonCore) -> None:
        self.core = core

    async def ServerLive(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ServerReadyResponse(ready=True)

    async def ModelReady(self, request: Any, context: Any) -> Any:
        return service_pb2.ModelReadyResponse(ready=self.core.model_ready(request.name, request.version))

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:
        rows = self.core.index(request.ready)
        return service_pb2.RepositoryIndexResponse(models=[
            service_pb2.RepositoryIndexResponse.ModelIndex(**row) for row in rows])

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:
        config = request.parameters["config"].string_param if "config" in request.parameters else None
        try:
            self.core.load(request.model_name, config)
        except EmulatorError as exc:
            await context.abort(_GRPC_CODES[exc.code], str(exc))
        return service_pb2.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:
        self.core.unload(request.model_name)
        return service_pb2.RepositoryModelUnloadResponse()

    async def ModelConfig(self, request: Any, context: Any) -> Any:
        try:
            return service_pb2.ModelConfigResponse(config=self.core.config(request.name))
        except EmulatorError as exc:
            await context.abort(_GRPC_CODES[exc.code], str(exc))
            raise


async def start_grpc(core: TritonCore) -> tuple[grpc.aio.Server, int]:
    """A gRPC server on a free loopback port; returns it and the port."""
    server = grpc.aio.server()
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(GrpcService(core), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port
