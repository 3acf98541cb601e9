#!/usr/bin/env bash
# Build the adapter's Python 3.12 environment from PyPI, exact pins (the README's two commands).
# Usage: integrations/isaaclab/setup_env.sh [VENV]   (default: .venv-isaaclab at the repo root)
# PYTHON312 names the interpreter (default: the first python3.12 that runs, pyenv's included).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${1:-$repo/.venv-isaaclab}"
py=""
for c in ${PYTHON312:-} python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
  if "$c" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then py="$c"; break; fi
done
[ -n "$py" ] || { echo "error: no Python 3.12 found (set PYTHON312)" >&2; exit 1; }
req="$here/requirements-isaaclab.txt"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" -c "$req" torch==2.11.0
"${pip[@]}" --no-deps -r "$req" -e "$repo" -e "$here"
"$venv/bin/python" -c "import torch, isaaclab, newton, h1fault.data.writer, h1fault_isaaclab; print('isaaclab env ok:', torch.__version__)"
