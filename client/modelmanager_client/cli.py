"""``modelmanager-client download|snapshot|ls|prune``: the library from a shell.

    modelmanager-client --host proxy download org/model config.json
    modelmanager-client snapshot org/model --include '*.safetensors' --explain
    modelmanager-client --provider s3 download models/llama model.safetensors --local-dir ./llama
    modelmanager-client --provider gcs download my-bucket/llama model.safetensors
    modelmanager-client --provider azure download myaccount/models/llama model.safetensors
    modelmanager-client --provider http download https://example.com/w.bin
    modelmanager-client ls            # the node tier: digest, size, last use
    modelmanager-client prune --max-bytes 50e9 --ttl 3600
    modelmanager-client triton sync       # a Triton model repository from the cache (docs/triton.md)
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
from collections.abc import Sequence

from modelmanager_client.download import download, snapshot
from modelmanager_client.errors import ClientError
from modelmanager_client.info import DownloadInfo
from modelmanager_client.node import NodeTier
from modelmanager_client.progress import Progress
from modelmanager_client.transport import log as transport_log


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelmanager-client", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", help="the proxy (default: $MODELMANAGER_URL; a bare name means http://name:8080)")
    parser.add_argument("--provider", default="HuggingFace", help="HuggingFace (hf), S3, GCS (gs), Azure (az) or HTTP")
    parser.add_argument("--explain", action="store_true", help="say which transport each file came by, and why")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("download", "snapshot"):
        sub = commands.add_parser(name, help=f"{name} through the proxy; prints the local path")
        sub.add_argument("repo", help="org/name (HF), bucket/prefix (S3, GCS), "
                         "account/container/prefix (Azure), or the URL (HTTP)")
        if name == "download":
            sub.add_argument("filename", nargs="?", help="the file in the repo (the key below the prefix for S3)")
            sub.add_argument("--force", action="store_true", help="transfer again even if held")
        else:
            sub.add_argument("--include", action="append", help="glob of files to take (repeatable)")
            sub.add_argument("--exclude", action="append", help="glob of files to skip (repeatable)")
            sub.add_argument("--max-workers", type=int, default=8)
        sub.add_argument("--revision", default="main")
        sub.add_argument("--repo-type", default="model", choices=["model", "dataset", "space"])
        sub.add_argument("--token", help="HF token, or ACCESS_KEY:SECRET for S3 (default: HF_TOKEN / AWS_*)")
        sub.add_argument("--cache-dir", help="the HF cache (default: as huggingface_hub) or the S3/HTTP file tree")
        sub.add_argument("--local-dir", help="put the files here instead")
    commands.add_parser("triton", help="Triton model repositories from the cache (modelmanager-client triton -h)",
                        add_help=False)
    listing = commands.add_parser("ls", help="list the node tier's blobs")
    listing.add_argument("--root", help="the node tier (default: $MODELMANAGER_CLIENT_CACHE)")
    prune = commands.add_parser("prune", help="drop expired, then least recently used, blobs from the node tier")
    prune.add_argument("--root", help="the node tier (default: $MODELMANAGER_CLIENT_CACHE)")
    prune.add_argument("--max-bytes", type=float, help="keep at most this many bytes")
    prune.add_argument("--ttl", type=float, help="drop blobs unused for this many seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["triton"]:
        return _triton(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if args.explain:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("explain: %(message)s"))
        transport_log.addHandler(handler)
        transport_log.setLevel(logging.INFO)
    try:
        return _run(args)
    except (ClientError, ValueError) as exc:
        print(f"modelmanager-client: {exc}", file=sys.stderr)
        return 1


def _triton(argv: list[str]) -> int:
    try:
        from modelmanager_client.triton.cli import main as triton_main
    except ImportError as exc:
        print(f"modelmanager-client triton needs the triton extra (pip install 'modelmanager-client[triton]'): "
              f"{exc}", file=sys.stderr)
        return 2
    return triton_main(argv)


def _run(args: argparse.Namespace) -> int:
    if args.command in ("ls", "prune"):
        return _tier_command(args)
    info = DownloadInfo(args.repo, getattr(args, "filename", None), args.revision, args.repo_type, args.provider,
                        args.host, args.token)
    tier = NodeTier()
    with Progress(args.command) as progress:
        if args.command == "download":
            path = download(info, cache_dir=args.cache_dir, local_dir=args.local_dir, force=args.force, tier=tier,
                            on_bytes=progress.add)
        else:
            path = snapshot(info, allow_patterns=args.include, ignore_patterns=args.exclude, cache_dir=args.cache_dir,
                            local_dir=args.local_dir, max_workers=args.max_workers, tier=tier, on_bytes=progress.add)
    tier.maybe_prune()
    print(path)
    return 0


def _tier_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    tier = NodeTier(Path(args.root) if args.root else None)
    if args.command == "ls":
        for path, st in sorted(tier.blobs(), key=lambda item: -item[1].st_mtime):
            used = datetime.datetime.fromtimestamp(st.st_mtime, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            print(f"{path.name}  {st.st_size:>14,}  {used}  links={st.st_nlink}")
        return 0
    pruned = tier.prune(int(args.max_bytes) if args.max_bytes is not None else None, args.ttl)
    print(f"removed {pruned.removed} blobs ({pruned.freed:,} bytes); kept {pruned.kept} ({pruned.kept_bytes:,} bytes)")
    return 0
