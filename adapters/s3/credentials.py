"""Where the proxy's own upstream S3 credentials come from: static keys, nobody (anonymous), or the
standard AWS chain through botocore's credential providers.

The chain is botocore's, unchanged: environment variables, the shared credentials and config files
(a named profile, ``credential_process``, SSO, ``role_arn`` with a source profile), the web
identity token file (``AWS_WEB_IDENTITY_TOKEN_FILE`` + ``AWS_ROLE_ARN``: IRSA on EKS, through STS
AssumeRoleWithWebIdentity), container credentials (ECS, EKS Pod Identity) and the instance
metadata service. A route may add ``role_arn``: the chain's credentials then assume that role.

botocore's providers block (file reads, STS and metadata calls), so they never run on the event
loop: resolution and every refresh run in a thread (``asyncio.to_thread``), one at a time, and
the frozen key triple is reused until ``refresh_margin`` seconds before it expires.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import botocore.credentials
import botocore.exceptions
import botocore.session

from adapters.s3.sigv4 import Credentials
from proxy.errors import UpstreamUnavailable
from proxy.singleflight import SingleFlight

log = logging.getLogger(__name__)

DEFAULT_REFRESH_MARGIN = 300.0
"""Seconds before expiry at which temporary credentials are replaced (botocore's own advisory
window is 15 minutes; its mandatory one 10)."""
MIN_REUSE = 1.0
"""Seconds a freshly resolved key is reused even when it expires sooner than the margin."""


class CredentialSource(Protocol):
    @property
    def label(self) -> str:
        """What it is, for logs (never a secret)."""
        ...

    async def current(self) -> Credentials | None:
        """The key to sign with now; None: send the request unsigned. Raises UpstreamUnavailable
        when the chain fails (STS or the metadata service unreachable, a broken profile)."""
        ...


@dataclass(frozen=True, slots=True)
class Anonymous:
    label: str = "anonymous"

    async def current(self) -> Credentials | None:
        return None


@dataclass(frozen=True, slots=True)
class Static:
    credentials: Credentials
    label: str = "static keys"

    async def current(self) -> Credentials | None:
        return self.credentials


class AwsChain:
    """botocore's credential chain for ``profile`` (None: the default one), optionally assuming
    ``role_arn``. A chain that finds nothing signs nothing (logged once)."""

    def __init__(self, profile: str | None = None, role_arn: str | None = None, *, region: str = "us-east-1",
                 session_name: str = "modelmanager", refresh_margin: float = DEFAULT_REFRESH_MARGIN) -> None:
        """``region``: where STS is asked to assume ``role_arn`` when the profile names no region."""
        self.profile = profile
        self.role_arn = role_arn
        self.region = region
        self.label = "AWS credential chain" + (f" (profile {profile})" if profile else "") + (
            f" assuming {role_arn}" if role_arn else "")
        self._session_name = session_name
        self._margin = refresh_margin
        self._botocore: Any = None
        self._resolved = False
        self._frozen: Credentials | None = None
        self._frozen_at = 0.0
        self._flight: SingleFlight[Credentials | None] = SingleFlight()

    def check(self) -> None:
        """Fail at start-up on a profile that does not exist (reads the config files only)."""
        try:
            botocore.session.Session(profile=self.profile).get_scoped_config()
        except botocore.exceptions.ProfileNotFound as exc:
            raise ValueError(f"AWS profile {self.profile!r} is not in the shared config files: {exc}") from exc

    async def current(self) -> Credentials | None:
        if self._resolved and not self._expiring():
            return self._frozen
        return await self._flight.run("credentials", self._refresh)

    def _expiring(self) -> bool:
        creds = self._botocore
        if not isinstance(creds, botocore.credentials.RefreshableCredentials):
            return False
        return time.monotonic() - self._frozen_at >= MIN_REUSE and bool(creds.refresh_needed(self._margin))

    async def _refresh(self) -> Credentials | None:
        try:
            frozen = await asyncio.to_thread(self._freeze)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, RuntimeError) as exc:
            raise UpstreamUnavailable(f"cannot get upstream S3 credentials from the {self.label}: {exc}") from exc
        if frozen is not None and self._frozen is not None and frozen.access_key != self._frozen.access_key:
            log.info("upstream S3 credentials refreshed", extra={"source": self.label})
        self._frozen, self._frozen_at, self._resolved = frozen, time.monotonic(), True
        return frozen

    def _freeze(self) -> Credentials | None:
        """In a thread: resolve the chain once, then let botocore refresh what it found."""
        if self._botocore is None and not self._resolved:
            self._botocore = self._resolve()
            if self._botocore is None:
                log.warning("the AWS credential chain found no credentials: upstream S3 requests are unsigned",
                            extra={"source": self.label})
        if self._botocore is None:
            return None
        frozen = self._botocore.get_frozen_credentials()
        return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)

    def _resolve(self) -> Any:
        session = botocore.session.Session(profile=self.profile)
        base = session.get_credentials()
        if self.role_arn is None or base is None:
            return base
        region = session.get_config_variable("region") or self.region
        fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
            functools.partial(session.create_client, region_name=region), base, self.role_arn,
            extra_args={"RoleSessionName": self._session_name})
        return botocore.credentials.DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
