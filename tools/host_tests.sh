#!/usr/bin/env bash
# Run the host tests (tests/host) against one ComfyUI host, and record what ran.
#
#   bash tools/host_tests.sh HOST [pytest args]
#
# HOST: a folder holding ComfyUI/ (the checkout) and venv/ (its Python), as the shared
#   comfyui_host.sh writes it; or set COMFYUI_PATH and COMFYUI_PYTHON and pass "-" as HOST.
#
# What it does: checks the host, installs into the host's venv the few packages the tests need
# and the host may lack (requests: ComfyUI 0.3.64's server imports it but its requirements.txt
# does not list it; pytest), runs `python -m pytest tests/host` with that Python, and writes
# docs/tested_with/comfyui-<version>.json: ComfyUI's version and commit, the frontend version, the
# torch version, and pytest's counts (from its JUnit XML).  `python tools/tested_with.py` turns
# those files into the README's "Tested with" table.  The exit code is pytest's.
set -euo pipefail
case ${BASH_SOURCE[0]} in */*) here=${BASH_SOURCE[0]%/*} ;; *) here=. ;; esac
ROOT=$(cd "$here/.." && pwd)
[ $# -ge 1 ] || { sed -n 2,14p "$0"; exit 2; }
host=$1; shift
if [ "$host" != "-" ]; then
    COMFYUI_PATH=$(cd "$host/ComfyUI" 2>/dev/null && pwd) || { echo "host_tests: $host/ComfyUI not found" >&2; exit 2; }
    COMFYUI_PYTHON=$host/venv/bin/python
fi
: "${COMFYUI_PATH:?set COMFYUI_PATH (or pass a HOST folder)}" "${COMFYUI_PYTHON:?set COMFYUI_PYTHON}"
[ -f "$COMFYUI_PATH/main.py" ] || { echo "host_tests: $COMFYUI_PATH has no main.py" >&2; exit 2; }
[ -x "$COMFYUI_PYTHON" ] || { echo "host_tests: $COMFYUI_PYTHON is not an executable Python" >&2; exit 2; }
export COMFYUI_PATH COMFYUI_PYTHON

missing=()
for mod in requests pytest; do
    "$COMFYUI_PYTHON" -c "import $mod" 2>/dev/null || missing+=("$mod")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "host_tests: installing into the host's venv what the tests need and it lacks: ${missing[*]}"
    "$COMFYUI_PYTHON" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi

cd "$ROOT"
xml=$(mktemp --suffix .xml)
trap 'rm -f "$xml"' EXIT
rc=0
"$COMFYUI_PYTHON" -m pytest tests/host -q -rfEs --junitxml="$xml" "$@" || rc=$?
"$COMFYUI_PYTHON" tools/tested_with.py record "$xml" "$@"
exit "$rc"
