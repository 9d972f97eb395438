"""Fluid ThinRuntime FUSE entry point: mount the Model Manager proxy's S3 API with goofys.

Fluid writes the Dataset's mount points and options to ``/etc/fluid/config/config.json`` (Fluid >=
1.1) and each ``encryptOptions`` value to a file whose path the JSON names. This script turns them
into a goofys command and runs it in the foreground:

    mountPoint  s3://<bucket>[/<prefix>]     the bucket (and prefix) the proxy's S3 API serves
    options.url http://<proxy>:9000          the proxy's dedicated S3 port (chart: service.s3Port)
    encryptOptions access-key / secret-key   one of the proxy's --s3-client-keys pairs
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CONFIG = Path(os.environ.get("FLUID_CONFIG", "/etc/fluid/config/config.json"))


def command(config: dict[str, object]) -> tuple[list[str], dict[str, str]]:
    """The goofys argv and the environment it needs, from Fluid's config.json."""
    mounts = config["mounts"]
    if not isinstance(mounts, list) or not mounts:
        raise SystemExit("the Dataset names no mount point")
    mount = mounts[0]
    point = str(mount["mountPoint"])
    if not point.startswith("s3://"):
        raise SystemExit(f"mountPoint must be s3://bucket[/prefix], not {point!r}")
    bucket, _, prefix = point.removeprefix("s3://").strip("/").partition("/")
    options = mount.get("options") or {}
    env = {"AWS_REGION": "us-east-1"}
    for option, variable in (("access-key", "AWS_ACCESS_KEY_ID"), ("secret-key", "AWS_SECRET_ACCESS_KEY")):
        if option in options:  # an encryptOptions value: a path to the secret's file
            env[variable] = Path(options[option]).read_text().strip()
    target = str(config["targetPath"])
    source = f"{bucket}:{prefix}" if prefix else bucket
    return ["goofys", "-f", "-o", "ro", "--endpoint", str(options["url"]), source, target], env


def main() -> None:
    argv, env = command(json.loads(CONFIG.read_text()))
    os.makedirs(argv[-1], exist_ok=True)
    sys.stdout.flush()
    os.execvpe(argv[0], argv, {**os.environ, **env})


if __name__ == "__main__":
    main()
