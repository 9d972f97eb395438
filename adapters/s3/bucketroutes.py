"""The S3 routes file (``--s3-routes FILE``, YAML) and the ``--s3-route BUCKET=TARGET`` flag: which
upstream serves each client-visible bucket.

```yaml
buckets:
  models:                                   # a client-visible bucket name, or "*" for every other
    upstream: https://s3.eu-west-1.amazonaws.com
    region: eu-west-1                       # default: from an AWS endpoint name, else --s3-upstream-region
    bucket: team-a-models                   # its name upstream (default: the same name)
    credentials:                            # default: the AWS chain (env, profile, IRSA, metadata...)
      profile: ml-readonly                  # a profile of the shared config files
      role_arn: arn:aws:iam::123456789012:role/model-reader   # assumed with the chain's credentials
      # or: access_key_id_env: TEAM_A_KEY_ID, secret_access_key_env: TEAM_A_SECRET (variable names)
      # or: anonymous: true
  gcs-models:
    upstream: gs://my-gcs-bucket
  azure-models:
    upstream: az://myaccount/models
```

Secrets never appear in the file: static keys are named by environment variable. Every mistake
is reported with the file, the line and the key (``routes.yaml:7: buckets.models.region: ...``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from proxy.errors import ConfigError

BUCKET = re.compile(r"\*|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
STORE_SCHEMES = ("gs", "az")
_AWS_HOST = re.compile(r"s3[.-](?:dualstack\.)?([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(?:\.cn)?")


class RoutesError(ConfigError):
    """A routes file or flag that cannot be used; the message names where and what."""


class CredentialsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str | None = Field(None, min_length=1)
    role_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    access_key_id_env: str | None = Field(None, pattern=ENV_NAME)
    secret_access_key_env: str | None = Field(None, pattern=ENV_NAME)
    session_token_env: str | None = Field(None, pattern=ENV_NAME)
    anonymous: bool = False

    @model_validator(mode="after")
    def _one_kind(self) -> CredentialsSpec:
        static = (self.access_key_id_env, self.secret_access_key_env)
        if any(static) and not all(static):
            raise ValueError("access_key_id_env and secret_access_key_env go together")
        if self.session_token_env and not all(static):
            raise ValueError("session_token_env needs access_key_id_env and secret_access_key_env")
        kinds = [self.anonymous, all(static), bool(self.profile or self.role_arn)]
        if sum(kinds) > 1:
            raise ValueError("choose one of: anonymous, static keys (*_env), or the chain (profile/role_arn)")
        return self

    @property
    def kind(self) -> Literal["anonymous", "static", "chain"]:
        return "anonymous" if self.anonymous else "static" if self.access_key_id_env else "chain"


class RouteSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    upstream: str = Field(description="https://<S3 endpoint>, gs://<bucket> or az://<account>/<container>")
    region: str | None = Field(None, pattern=r"^[a-z0-9-]{2,32}$")
    bucket: str | None = None
    credentials: CredentialsSpec | None = None

    @field_validator("upstream")
    @classmethod
    def _target(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme in ("http", "https"):
            if not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"an S3 endpoint must be http(s)://host[:port][/path], not {value!r}")
        elif parts.scheme == "gs":
            if not BUCKET.fullmatch(parts.netloc) or parts.path.strip("/") or parts.query:
                raise ValueError(f"a GCS target is gs://<bucket>, not {value!r}")
        elif parts.scheme == "az":
            if not parts.netloc.isalnum() or not re.fullmatch(r"/[a-z0-9-]{3,63}/?", parts.path) or parts.query:
                raise ValueError(f"an Azure target is az://<account>/<container>, not {value!r}")
        else:
            raise ValueError(f"upstream must be an http(s):// S3 endpoint, gs:// or az://, not {value!r}")
        return value

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and (value == "*" or not BUCKET.fullmatch(value)):
            raise ValueError(f"not a bucket name: {value!r}")
        return value

    @model_validator(mode="after")
    def _s3_only(self) -> RouteSpec:
        if self.scheme in STORE_SCHEMES and (self.region or self.bucket or self.credentials):
            raise ValueError(f"region, bucket and credentials apply to S3 endpoints, not to {self.scheme}:// "
                             "targets (their credentials are the store's own, see docs/upstreams.md)")
        return self

    @property
    def scheme(self) -> str:
        return urlsplit(self.upstream).scheme

    def signing_region(self, default: str) -> str:
        """The region to sign for: the configured one, an AWS endpoint's own, else ``default``."""
        if self.region:
            return self.region
        found = _AWS_HOST.fullmatch(urlsplit(self.upstream).hostname or "")
        return found[1] if found else default


class RoutesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    buckets: dict[str, RouteSpec]

    @field_validator("buckets")
    @classmethod
    def _names(cls, value: dict[str, RouteSpec]) -> dict[str, RouteSpec]:
        for name in value:
            if not BUCKET.fullmatch(name):
                raise ValueError(f"not a bucket name (or '*'): {name!r}")
        return value


@dataclass(frozen=True, slots=True)
class Route:
    bucket: str
    """The client-visible bucket, or ``*``."""
    spec: RouteSpec
    origin: str
    """Where it was configured (``routes.yaml:4``, ``--s3-route``), for error messages."""


def load_file(path: Path) -> list[Route]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RoutesError(f"{path}: cannot read the routes file: {exc}") from exc
    return parse_text(text, str(path))


def parse_text(text: str, name: str) -> list[Route]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise RoutesError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    try:
        parsed = RoutesFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        path = ".".join(str(p) for p in loc) or "(top level)"
        raise RoutesError(f"{name}:{_line(root, loc)}: {path}: {first['msg']}") from None
    return [Route(bucket, spec, f"{name}:{_line(root, ('buckets', bucket))}")
            for bucket, spec in parsed.buckets.items()]


def _line(node: yaml.Node | None, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node of ``loc`` that exists in the document."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
        if found is None:
            break
        key, node = found
        line = key.start_mark.line + 1
    return line


def parse_flag(text: str) -> Route:
    """``BUCKET=TARGET`` (``models=https://s3.eu-west-1.amazonaws.com``, ``*=gs://b``)."""
    bucket, sep, target = text.partition("=")
    bucket, target = bucket.strip(), target.strip()
    if not sep or not BUCKET.fullmatch(bucket):
        raise RoutesError(f"--s3-route {text!r}: expected BUCKET=TARGET (a bucket name or '*', then a URL)")
    try:
        return Route(bucket, RouteSpec(upstream=target), "--s3-route")
    except ValidationError as exc:
        raise RoutesError(f"--s3-route {text!r}: {exc.errors()[0]['msg']}") from None


def combine(*groups: list[Route]) -> dict[str, Route]:
    """One route per bucket; a bucket configured twice is an error naming both places."""
    table: dict[str, Route] = {}
    for route in (r for group in groups for r in group):
        if route.bucket in table:
            raise RoutesError(f"{route.origin}: bucket {route.bucket!r} is already routed at "
                              f"{table[route.bucket].origin}")
        table[route.bucket] = route
    return table
