# The UCX sidecar image (docs/ucx.md): `docker build -f deploy/ucx-sidecar.Dockerfile -t modelmanager-ucx .`
# The proxy's packages plus the sidecar, the client's wire protocol, ucxx and NIXL. NIXL's wheel is
# installed without its dependencies: it requires torch, which the sidecar never imports. The proxy's
# own image (Dockerfile) carries none of this.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY adapters ./adapters
COPY ucx_sidecar ./ucx_sidecar
COPY client ./client
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[ucx]' ./client \
    && pip download --no-cache-dir --no-deps --dest /wheels nixl-cu13

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UCX_WARN_UNUSED_ENV_VARS=n
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'modelmanager[ucx]' modelmanager-client \
    && pip install --no-cache-dir --no-index --no-deps /wheels/nixl_cu13-*.whl \
    && groupadd --system --gid 10001 modelmanager \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home modelmanager
USER 10001:10001
EXPOSE 13337
ENTRYPOINT ["python", "-m", "ucx_sidecar"]
CMD ["--cache", "/var/cache/modelmanager", "--listen", "0.0.0.0:13337"]
