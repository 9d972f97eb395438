# Model Manager container image: `docker build -t modelmanager .`
# Runs `modelmanager serve` as uid 10001 on port 8080 (and 9000 for the dedicated S3 port when set),
# with the cache on the volume /var/cache/modelmanager.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proxy ./proxy
COPY adapters ./adapters
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[uvloop]'

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MODELMANAGER_HOST=0.0.0.0 \
    MODELMANAGER_PORT=8080 \
    MODELMANAGER_CACHE_DIR=/var/cache/modelmanager
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'modelmanager[uvloop]' \
    && groupadd --system --gid 10001 modelmanager \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home modelmanager \
    && mkdir -p /var/cache/modelmanager \
    && chown 10001:10001 /var/cache/modelmanager
USER 10001:10001
VOLUME ["/var/cache/modelmanager"]
EXPOSE 8080 9000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MODELMANAGER_PORT', '8080') + '/healthz', timeout=2)"]
ENTRYPOINT ["modelmanager"]
CMD ["serve"]
