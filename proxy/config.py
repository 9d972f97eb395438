"""Settings: one typed object. Every field is a ``--flag`` and a ``MODELMANAGER_<NAME>`` variable.

Precedence: command-line flag, then environment variable, then the default written here.
``docs/configuration.md`` is generated from this module (``modelmanager config-docs``).
"""

from __future__ import annotations

import base64
import binascii
import socket
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from proxy.workers.cores import usable_cores

ENV_PREFIX = "MODELMANAGER_"


def _default_node_id() -> str:
    name = socket.gethostname().split(".")[0] or "node"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name)[:63]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address to listen on. Use 0.0.0.0 in a container.")
    port: int = Field(8080, ge=0, le=65535, description="HTTP port for every API (0 picks a free port).")
    cache_dir: Path = Field(Path(".modelmanager-cache"), description="Cache volume: blobs, index "
                            "records and temp files (see docs/storage-layout.md). Shared (RWX) in a cluster.")
    redis_url: SecretStr | None = Field(None, description="Redis for cluster coordination, e.g. "
                                        "redis://redis:6379/0. Unset: embedded single-node mode.")
    node_id: str = Field(default_factory=_default_node_id, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
                         description="This node's name in the cluster and in tmp/<node-id>/ "
                         "(default: the host name). Must be unique per pod.")
    advertise_url: str | None = Field(None, description="URL other pods use to reach this one "
                                      "(default: http://<host>:<port>).")
    memory_cache_bytes: int = Field(0, ge=0, description="Budget of the per-pod memory tier for hot "
                                    "blobs (a blob enters on its first hit). 0 disables it.")
    memory_cache_ttl: float = Field(300.0, gt=0, description="Seconds a blob stays in the memory tier "
                                    "after it entered (and is advertised to peers).")
    memory_cache_max_blob_bytes: int = Field(64 << 20, ge=0, description="Largest blob the memory tier "
                                             "takes; larger ones are always served from the volume.")
    peer_mode: Literal["off", "redirect", "proxy"] = Field("off", description="What a pod does on a hit it "
                                                           "does not hold in memory while a peer does: "
                                                           "`redirect` (307, one hop, never for S3 or "
                                                           "requests with credentials), `proxy` (fetch the "
                                                           "bytes from the peer), or `off` (read the volume).")
    lease_ttl: float = Field(10.0, gt=0, description="Cluster mode: seconds a fill lease lives without "
                             "progress; when a leader dies, another pod takes its fill over after this.")
    relay_dir: Path | None = Field(None, description="Cluster mode: where a follower pod keeps the bytes "
                                   "of a running fill it streams from the leader's pod (one file per fill, "
                                   "removed when the fill ends). Unset: `<cache-dir>/tmp/<node-id>/` on the "
                                   "shared volume. A node-local disk (an emptyDir) spares the shared volume "
                                   "a second write of every file per follower pod.")
    redis_prefix: str = Field("mm", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="Prefix of every "
                              "Redis key and channel (several clusters may share one Redis).")
    disk_reserve_bytes: int = Field(1 << 30, ge=0, description="Free space the cache volume keeps: a miss "
                                    "whose size would leave less is refused before any header (507, or S3 "
                                    "503 ServiceUnavailable) and /readyz reports `degraded`; hits are still "
                                    "served.")
    max_connections: int = Field(0, ge=0, description="Open client connections per process, on the main "
                                 "port and --s3-port together (0: half the file descriptor limit). At the cap "
                                 "the longest-idle connection is closed to admit a new one; only when all are "
                                 "busy is a new one refused with 503.")
    idle_timeout: float = Field(75.0, gt=0, le=3600, description="Seconds a client connection may stay "
                                "without a complete request head: idle keep-alive connections and heads "
                                "sent a byte at a time are closed after this.")
    body_idle_timeout: float = Field(60.0, gt=0, le=3600, description="Seconds a request body (uploads, "
                                     "control API bodies) may make no progress before its connection is "
                                     "closed.")
    http_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Upstream hosts the generic /v1/fetch adapter may fetch, as shell patterns "
        "(`huggingface.co`, `*.example.com`, `10.0.0.5:9000`); comma-separated in the variable. "
        "Empty (the default) refuses every host, so the proxy is not an open proxy.")
    http_revalidate_after: float = Field(300.0, ge=0, description="Seconds a generic-HTTP entry is "
                                         "served without asking upstream; after that it is revalidated "
                                         "with its ETag/Last-Modified (served stale if upstream is down).")
    gcs_endpoint: str | None = Field(None, description="The Google Cloud Storage JSON API that gs:// URLs "
                                     "and buckets routed to GCS are read from. Unset: $STORAGE_EMULATOR_HOST "
                                     "(as Google's clients read it, for emulators), else "
                                     "https://storage.googleapis.com.")
    gcs_credentials: str = Field("default", description="The proxy's GCS credentials: `default` "
                                 "(Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's "
                                 "file, the metadata server / Workload Identity; anonymous when none is "
                                 "found), `anonymous`, or the path of a service-account JSON file.")
    gcs_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Buckets `/v1/fetch?url=gs://…` may read, as shell patterns (`models-*`); "
        "comma-separated in the variable. Empty (the default) refuses every bucket there (prefetch, "
        "pins and watches, which need the admin token, and --s3-routes are not limited by it).")
    gcs_revalidate_after: float = Field(300.0, ge=0, description="Seconds a cached GCS object is served "
                                        "without asking GCS; after that its ETag (MD5 or generation) "
                                        "is revalidated.")
    azure_endpoint: str | None = Field(None, description="The Blob service az:// URLs and containers routed "
                                       "to Azure are read from, `{account}` replaced by the account, e.g. "
                                       "http://127.0.0.1:10000/{account} for Azurite. Unset: "
                                       "https://{account}.blob.core.windows.net.")
    azure_account_key: SecretStr | None = Field(None, description="A storage account key: requests are "
                                                "signed with SharedKey. Unset: --azure-sas-token, else "
                                                "--azure-credentials.")
    azure_sas_token: SecretStr | None = Field(None, description="A shared access signature (the query "
                                              "string, with or without `?`) added to every Blob request.")
    azure_credentials: Literal["default", "anonymous"] = Field("default", description="Without a key or "
                                                               "SAS: `default` asks azure-identity's "
                                                               "DefaultAzureCredential (environment, "
                                                               "workload identity, managed identity, Azure "
                                                               "CLI) for a token; `anonymous` sends none "
                                                               "(public containers).")
    azure_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Containers `/v1/fetch?url=az://…` may read, as shell patterns over "
        "`account/container` (`myaccount/models-*`). Empty (the default) refuses every container there.")
    azure_revalidate_after: float = Field(300.0, ge=0, description="Seconds a cached Azure blob is served "
                                          "without asking Azure; after that its ETag is revalidated.")
    hf_endpoint: str = Field("https://huggingface.co", description="The Hugging Face Hub the HF API "
                             "(HF_ENDPOINT=http://<proxy>) fetches from.")
    hf_token: SecretStr | None = Field(None, description="The proxy's own Hub token, used only to fetch files "
                                       "of repos the Hub let the (anonymous) client read: for public rate "
                                       "limits, never to open private or gated repos to clients.")
    hf_revision_ttl: float = Field(60.0, ge=0, description="Seconds a branch or tag stays resolved to a commit "
                                   "(and branch-level API answers are reused) before the Hub is asked again.")
    hf_access_ttl: float = Field(60.0, ge=0, description="Seconds the Hub's answer to 'may this token read "
                                 "this repo' is reused for cached files of private and gated repos.")
    s3_upstream_endpoint: str | None = Field(None, description="The S3-compatible store the S3 API "
                                             "(AWS_ENDPOINT_URL=http://<proxy>:<port>/s3) reads from, e.g. "
                                             "https://s3.us-east-1.amazonaws.com. Unset: the S3 API is off.")
    s3_upstream_region: str = Field("us-east-1", description="Region the proxy signs upstream S3 requests for "
                                    "(routes to an AWS endpoint `s3.<region>.amazonaws.com` default to its region; "
                                    "a bucket found in another region is re-signed for it once and remembered).")
    s3_upstream_access_key_id: str | None = Field(None, description="The proxy's own static access key for the "
                                                  "upstream store. Unset: the standard AWS credential chain "
                                                  "(environment, shared config and --s3-upstream-profile, web "
                                                  "identity token file / IRSA, SSO, container and instance "
                                                  "metadata), refreshed before expiry.")
    s3_upstream_secret_access_key: SecretStr | None = Field(None, description="The secret key that goes with "
                                                            "--s3-upstream-access-key-id.")
    s3_upstream_profile: str | None = Field(None, description="Profile of the shared AWS config files the "
                                            "credential chain uses (default: AWS_PROFILE, else `default`).")
    s3_upstream_anonymous: bool = Field(False, description="Send upstream S3 requests unsigned (public "
                                        "buckets) instead of looking for credentials.")
    s3_routes: Path | None = Field(None, description="YAML file routing client-visible buckets (or `*`) to "
                                   "upstreams: an S3 endpoint with region and credentials, `gs://bucket` or "
                                   "`az://account/container` (see docs/s3.md). Checked at start-up.")
    s3_route: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="`BUCKET=TARGET` routes (`models=https://s3.eu-west-1.amazonaws.com`, "
        "`ckpt=gs://my-bucket`), repeatable; comma-separated in the variable. They use the default "
        "upstream credentials; --s3-upstream-endpoint is the `*` route.")
    s3_port: int | None = Field(None, ge=0, le=65535, description="A dedicated port serving the S3 API at the "
                                "root (path-style, and virtual-hosted with --s3-virtual-host-suffix), for "
                                "clients that cannot take a path prefix. Unset: only /s3/ on --port.")
    s3_client_keys: SecretStr | None = Field(None, description="Client key pairs the S3 API accepts, "
                                             "`access:secret`, comma-separated. With neither this nor "
                                             "--s3-client-keys-file the S3 API is open (logged at start-up).")
    s3_client_keys_file: Path | None = Field(None, description="A file of `access:secret` lines, added to "
                                             "--s3-client-keys (e.g. a mounted Kubernetes Secret).")
    s3_list_ttl: float = Field(10.0, ge=0, description="Seconds a bucket listing is reused before the "
                               "upstream is asked again (served stale if the upstream is down).")
    s3_revalidate_after: float = Field(300.0, ge=0, description="Seconds a cached S3 object is served "
                                       "without asking upstream; after that its ETag is revalidated.")
    s3_virtual_host_suffix: str | None = Field(None, description="Domain for virtual-hosted addressing on "
                                               "--s3-port: `Host: <bucket>.<suffix>` names the bucket.")
    s3_write_through: bool = Field(True, description="Forward PutObject and multipart uploads to the "
                                   "upstream and cache the uploaded bytes (only with --s3-allow-writes). "
                                   "Off: writes are refused with NotImplemented.")
    s3_allow_writes: bool = Field(False, description="Let S3 clients write (PutObject, multipart uploads) "
                                  "through the proxy, with the proxy's upstream credentials. Needs "
                                  "--s3-client-keys or --s3-client-keys-file. Off (the default): the S3 API "
                                  "is read-only and every write is refused with AccessDenied.")
    upstream_connect_timeout: float = Field(10.0, gt=0, description="Seconds to connect to an upstream.")
    upstream_read_timeout: float = Field(30.0, gt=0, description="Seconds an upstream may stay silent "
                                         "mid-body before the connection is dropped and the fill resumed.")
    fill_retries: int = Field(5, ge=0, description="How often a fill resumes (HTTP Range) after the "
                              "upstream drops, before it fails (per segment, for a segmented fill).")
    fill_connections: int = Field(8, ge=1, le=64, description="Upstream connections one fill may use: a "
                                  "file of 32 MiB or more whose upstream honours Range is fetched as segments "
                                  "of 16-64 MiB in parallel, the ones readers wait for first. 1: one stream.")
    disk_quota_bytes: int = Field(0, ge=0, description="Most bytes of blobs the cache volume may hold; "
                                  "over it, least recently used blobs that are neither pinned nor in use are "
                                  "evicted (with the index entries that name them). 0: no quota.")
    eviction_interval: float = Field(30.0, gt=0, description="Seconds between checks of the disk quota "
                                     "(a prefetch job also checks when it ends).")
    abandoned_tmp_age: float = Field(86400.0, ge=3600, description="Eviction passes remove the temp files "
                                     "other nodes left on the cache volume (a pod killed mid-fill, a fill "
                                     "handed over that no pod took up) once nobody has written them for this "
                                     "many seconds. At least 3600: a successor may adopt a fill's file for an hour.")
    access_touch_interval: float = Field(60.0, ge=0, description="A blob's last access (its atime, set "
                                         "explicitly) is written at most this often per blob; eviction orders "
                                         "blobs by it.")
    prefetch_concurrency: int = Field(4, ge=1, le=64, description="Files a prefetch job fetches at once.")
    watch_interval: float = Field(300.0, ge=10, le=86400, description="Default seconds between upstream "
                                  "checks of a watched URL (per watch: `interval`, 10 to 86400).")
    watch_sync_interval: float = Field(10.0, gt=0, description="Cluster mode: seconds between re-reads of "
                                       "the watch records on the volume, to pick up watches other pods "
                                       "added, removed or switched.")
    watch_grace: float = Field(3600.0, ge=0, le=30 * 86400, description="Default seconds the version a "
                               "watch switched away from stays pinned (per watch: `grace`, at most 30 days).")
    build_lease_ttl: float = Field(30.0, gt=0, le=3600, description="Seconds a build worker's lease on a "
                                   "build lives without renewal (the worker renews every quarter of it); when a "
                                   "worker dies, another takes the build over after this. See docs/artifacts.md.")
    build_failure_ttl: float = Field(600.0, ge=0, le=7 * 86400, description="Seconds a failed build stays "
                                     "failed (every waiter gets its error and log tail); a request after that "
                                     "starts a fresh build. A request with \"retry\": true does at once. 0: "
                                     "every new request retries. See docs/artifacts.md.")
    watch_build_timeout: float = Field(3600.0, gt=0, le=7 * 86400, description="Seconds a watch waits for the "
                                       "artifacts of a new version (watches with builds) before it gives up until "
                                       "its next check; the old version stays served meanwhile.")
    artifact_open_reads: bool = Field(False, description="Let anyone who reaches the port read derived artifacts "
                                      "(GET/HEAD /v1/artifacts/{key}) without the admin token. Off (the default): "
                                      "artifacts built from private models are private bytes, so reads need it too.")
    recipe_modules: Annotated[tuple[str, ...], NoDecode] = Field((), description="Python modules with extra build "
                                                                 "recipes (`RECIPE`/`RECIPES`), comma-separated, "
                                                                 "besides the built-in ones and the "
                                                                 "`modelmanager.recipes` entry points: the proxy "
                                                                 "needs a recipe to canonicalize its options.")
    admin_token: SecretStr | None = Field(None, description="Bearer token the control API (/v1/prefetch, "
                                          "/v1/jobs, /v1/pins, /v1/watches, /v1/evict) and /v1/status require. "
                                          "Unset: a random token is generated at first start into "
                                          "<cache-dir>/admin-token (mode 0600) and used; the CLI reads it "
                                          "from there.")
    insecure_no_auth: bool = Field(False, description="Local development only: the control API and "
                                   "/v1/status answer without a token (logged loudly at start-up). They "
                                   "still refuse cross-site browser requests and Host names other than IP "
                                   "addresses and localhost.")
    cluster_secret: SecretStr | None = Field(None, description="Cluster mode: the secret pods present to "
                                             "each other on the internal blob endpoint (/_mm/v1/blobs, peer "
                                             "hops). Unset: generated at first start into "
                                             "<cache-dir>/cluster-secret (mode 0600) on the shared volume.")
    offline: bool = Field(False, description="Serve only what is cached and never connect to an upstream: "
                          "HF clients get 5xx answers that make them fall back to their local cache, S3 "
                          "clients ServiceUnavailable, /v1/fetch 502.")
    workers: int = Field(1, ge=0, le=1024, description="Worker processes serving this node's ports "
                         "(SO_REUSEPORT). 0: one per CPU core this process may use (its affinity, at most its cgroup "
                         "CPU limit). Above 1, `serve` runs a "
                         "small supervisor; the workers share fills through a node-local coordinator (or "
                         "Redis) and their metrics are aggregated. See docs/serving.md.")
    sendfile: bool = Field(True, description="Serve cached blobs with the kernel's sendfile(2). "
                           "Off: read and write in user space.")
    shutdown_delay: float = Field(0.0, ge=0, le=300, description="On SIGTERM or SIGINT: seconds to keep "
                                  "accepting new connections, with /readyz answering 503, before the listening "
                                  "socket closes (load balancers and Kubernetes endpoints take a moment to "
                                  "notice). 0: close at once.")
    shutdown_timeout: float = Field(20.0, ge=0, description="On SIGTERM or SIGINT: seconds the responses "
                                    "in flight get to finish after the listening socket closed and fills were "
                                    "handed over (keep it and --shutdown-delay under the pod's "
                                    "terminationGracePeriodSeconds). A second signal ends the wait.")
    event_loop: Literal["asyncio", "uvloop"] = Field("asyncio", description="Event loop. asyncio "
                                                     "has sendfile; see docs/serving.md for the measurements.")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    log_format: Literal["json", "text"] = Field("json", description="One JSON object per line, or text.")

    @field_validator("hf_endpoint", "s3_upstream_endpoint", "advertise_url", "gcs_endpoint", "azure_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"must be an http:// or https:// URL with a host, not {value!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("redis", "rediss", "unix") or (parts.scheme != "unix" and not parts.hostname):
                raise ValueError("must be a redis://host:port/db, rediss://… or unix://… URL")
        return value

    @field_validator("http_allow", "s3_route", "gcs_allow", "azure_allow", mode="before")
    @classmethod
    def _split_patterns(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, (list, tuple)):
            return tuple(q.strip() for p in value for q in str(p).split(",") if q.strip())
        return value

    @field_validator("recipe_modules", mode="before")
    @classmethod
    def _split_modules(cls, value: Any) -> Any:
        """Comma-separated in a flag or variable; a list as given."""
        if isinstance(value, str):
            return tuple(m.strip() for m in value.split(",") if m.strip())
        return value

    @field_validator("admin_token", "cluster_secret", "azure_account_key", "azure_sas_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("admin_token", "cluster_secret")
    @classmethod
    def _bearer_safe(cls, value: SecretStr | None) -> SecretStr | None:
        text = value.get_secret_value() if value is not None else ""
        if value is not None and not (text.isascii() and text.isprintable() and " " not in text):
            raise ValueError("must be printable ASCII without spaces (it is sent as a Bearer token)")
        return value

    @field_validator("azure_account_key")
    @classmethod
    def _base64_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                base64.b64decode(value.get_secret_value(), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("must be the account key as Azure shows it (base64)") from None
        return value

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        if self.s3_allow_writes and self.s3_client_keys is None and self.s3_client_keys_file is None:
            raise ValueError("--s3-allow-writes needs --s3-client-keys or --s3-client-keys-file: "
                             "anonymous clients may never write with the proxy's credentials")
        if (self.s3_upstream_access_key_id is None) != (self.s3_upstream_secret_access_key is None):
            raise ValueError("--s3-upstream-access-key-id and --s3-upstream-secret-access-key go together")
        if self.s3_upstream_anonymous and self.s3_upstream_access_key_id:
            raise ValueError("--s3-upstream-anonymous and --s3-upstream-access-key-id exclude each other")
        if self.insecure_no_auth and self.admin_token is not None:
            raise ValueError("--insecure-no-auth and --admin-token exclude each other")
        return self

    @property
    def embedded(self) -> bool:
        return self.redis_url is None

    def worker_count(self) -> int:
        """``workers`` with 0 resolved to the cores this process may use (affinity, cgroup CPU limit)."""
        return self.workers or usable_cores()

    def advertised(self) -> str:
        return self.advertise_url or f"http://{self.host}:{self.port}"


def render_markdown() -> str:
    """The configuration reference, generated from the fields above."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from proxy/config.py by `modelmanager config-docs`; do not edit by hand. -->",
        "",
        "Every option is a command-line flag of `modelmanager serve` and an environment variable.",
        "Flags win over variables; variables win over defaults.",
        "",
        "| Flag | Variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = ENV_PREFIX + name.upper()
        if field.default_factory is not None:
            default = "host name"
        elif field.default in (None, ()):
            default = "unset"
        else:
            default = f"`{field.default}`"
        lines.append(f"| `{flag}` | `{env}` | {default} | {field.description} |")
    return "\n".join(lines) + "\n"
