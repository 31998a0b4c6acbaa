#!/usr/bin/env bash
# Distributed training with torchrun, mmdet-style:
#   tools/dist_train.sh CONFIG GPUS [tools/train.py arguments...]
# e.g. tools/dist_train.sh configs/cascade_mask_rcnn_convnext_t_3x_coco.py 8 \
#          --cfg-options model.backbone.init_cfg.checkpoint=convnext_tiny_1k_224.pth
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR and PORT on every node.
# PYTHON picks the interpreter (default: python).
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [tools/train.py arguments...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
exec "$(dirname "$0")/dist_run.sh" train.py "$GPUS" "$CONFIG" \
    --launcher pytorch "$@"
