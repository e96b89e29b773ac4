#!/usr/bin/env bash
# Creates .venv and installs the project with its test extras; a no-op when nothing changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mkdir -p .local
python="${PYTHON:-python3}"
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "python: installing python3 (3.11+ needed)"
    apt-get update -qq >>.local/bootstrap.log 2>&1 && apt-get install -y -qq python3 python3-venv >>.local/bootstrap.log 2>&1
    python=python3
  fi
  "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || { echo "python: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
fi
if [ ! -x .venv/bin/python ]; then
  echo "python: creating .venv"
  if ! "$python" -m venv .venv >>.local/bootstrap.log 2>&1; then
    # Debian's python3 ships venv separately.
    apt-get update -qq >>.local/bootstrap.log 2>&1 && apt-get install -y -qq python3-venv >>.local/bootstrap.log 2>&1
    "$python" -m venv .venv >>.local/bootstrap.log 2>&1
  fi
fi
stamp=".local/deps.stamp"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "python: installing dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >>.local/bootstrap.log 2>&1
  if ! .venv/bin/python -m pip install -q -e '.[test]' >>.local/bootstrap.log 2>&1; then
    echo "python: pip install failed; see .local/bootstrap.log" >&2
    tail -20 .local/bootstrap.log >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
