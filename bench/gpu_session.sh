#!/usr/bin/env bash
# One prepared run for the GPU node (16 cores, one H100/H200, no network): the scenarios that only
# mean something there, each under its own time limit, logs and tables under $OUT/<part>/.
#
#   make gpu-wheels                      # here, with network: .whl/ (the proxy's dependencies the
#                                        # node lacks) and .whl-ucx/ (the sidecar's, for `ucx`)
#   bench/gpu_session.sh                 # on the node, from the checkout's root: fill herd artifacts
#   bench/gpu_session.sh ucx             # a second call: the UCX wheels do not fit beside the others
#                                        # in one carry (64 MiB)
#
# Parts: fill (bench/gpu_fill.py: cold fills, 1 vs 8 connections, unthrottled and paced),
# herd (bench/gpu_workers.py: 64 clients on a cold 1 GiB file and warm fan-out, 16 workers),
# artifacts (bench/gpu_artifact_nodes.py: a second node's time to a compiled model with and
# without the cached torch.compile artifact), recipes (bench/gpu_artifacts.py: the recipes
# themselves, TensorRT where installed), ucx (bench/gpu_ucx.py: sidecar vs HTTP vs hand-off into
# GPU memory). The limits add up to under 10 minutes for the default parts.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu-session}"
mkdir -p "$OUT"
site="${TMPDIR:-/tmp}/mm-site"
for dir in .whl .whl-ucx; do
    if compgen -G "$dir/*.whl" >/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$dir"/*.whl
    fi
done
export PYTHONPATH="$site:$PWD:$PWD/client${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$OUT/machine.txt"
echo "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB" | tee -a "$OUT/machine.txt"

run() {
    local name=$1 limit=$2
    shift 2
    mkdir -p "$OUT/$name"
    echo "== $name (limit ${limit} s): $*"
    OUT="$OUT/$name" timeout "$limit" "$@" > "$OUT/$name/log.txt" 2>&1
    local rc=$?
    tail -n 40 "$OUT/$name/log.txt"
    echo "== $name rc=$rc"
}

for part in ${*:-fill herd artifacts}; do
    case "$part" in
        fill) run fill 170 python3 bench/gpu_fill.py ;;
        herd) run herd 170 python3 bench/gpu_workers.py --workers 16 --herd-workers 16 ;;
        artifacts) run artifacts 200 python3 bench/gpu_artifact_nodes.py --device cuda --runs 1 ;;
        recipes) run recipes 200 python3 bench/gpu_artifacts.py --device cuda --runs 1 ;;
        ucx) run ucx 240 python3 bench/gpu_ucx.py ;;
        *) echo "unknown part: $part (fill, herd, artifacts, recipes, ucx)"; exit 2 ;;
    esac
done
