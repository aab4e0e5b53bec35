#!/usr/bin/env bash
# On a machine with a CUDA GPU: every study's smoke run on cuda, full-size training steps of a01
# and a15 with AMP, nndl bench on the GPU and torchrun with 2 processes, as one table, in under
# 8 minutes (see benchmarks/gpu_check.py). Without a GPU: one line, exit 0.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python}" "$here/gpu_check.py" "$@"
