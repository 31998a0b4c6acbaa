#!/usr/bin/env bash
# Runs one of the tools under torchrun on GPUS processes per node (what
# dist_train.sh and dist_test.sh call):
#   tools/dist_run.sh TOOL GPUS [TOOL arguments...]    e.g. TOOL=train.py
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node; a
# node waits RDZV_TIMEOUT seconds (default 600) for the others to join.
# PYTHON picks the interpreter (default: python). torchrun runs through
# convnext_dense.cli.launch, which reports a node that did not join, or a
# failed worker, in one line.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 TOOL GPUS [TOOL arguments...]" >&2
    exit 2
fi
TOOL=$1
GPUS=$2
shift 2
TOOLS_DIR=$(cd "$(dirname "$0")" && pwd)

PYTHONPATH="$TOOLS_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
exec "${PYTHON:-python}" -m convnext_dense.cli.launch \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --rdzv_conf="timeout=${RDZV_TIMEOUT:-600}" \
    --nproc_per_node="$GPUS" \
    "$TOOLS_DIR/$TOOL" "$@"
