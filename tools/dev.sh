#!/usr/bin/env bash
# The developer environment, written once for `make demo`, `make test` and CI (.ci/run): check
# the prerequisites, create or reuse the project's virtual environment (torch plus
# requirements.txt and requirements-test.txt), then run the demo or the whole test suite in it.
#
#   bash tools/dev.sh env           set up (or reuse) the environment, nothing else
#   bash tools/dev.sh demo [ARGS]   then `python -m posenc_lab demo --out out/demo.png [ARGS]`
#   bash tools/dev.sh test [ARGS]   then `python -m pytest tests -q [ARGS]` and node's test runner
#                                   on js/tests/ (node is checked before anything is installed)
#
# Settings, from the environment or as make variables (`make test VENV=...`):
#   PYTHON  the interpreter that creates the environment (default python3, Python >= 3.10)
#   VENV    where the environment lives (default .venv in the repository)
#   TORCH   the torch requirement (default torch==2.13.0)
#
# Idempotent: the environment holds a stamp, a hash of the two requirement files and TORCH; pip
# runs only when the stamp is missing or differs, so a second run installs nothing.
# Until the environment exists the script uses bash built-ins and PYTHON only, so a missing
# prerequisite is reported here with what to install, not by a later command's failure.
set -euo pipefail

case ${BASH_SOURCE[0]} in */*) here=${BASH_SOURCE[0]%/*} ;; *) here=. ;; esac
ROOT=$(cd "$here/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
TORCH=${TORCH:-torch==2.13.0}
STAMP=$VENV/.posenc-requirements

say() { printf 'dev.sh: %s\n' "$*"; }
die() {
    printf 'dev.sh: error: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}

check_python() {
    command -v "$PYTHON" >/dev/null 2>&1 || die "no '$PYTHON' on PATH: Python 3.10 or newer is needed." \
        "Install it (Debian/Ubuntu: sudo apt-get install python3 python3-venv; macOS: brew install python)," \
        "or name an interpreter: make demo PYTHON=/path/to/python3"
    local version
    version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) ||
        die "'$PYTHON' does not run (\`$PYTHON -c pass\` fails)." \
            "Name a working Python 3.10 or newer: make demo PYTHON=/path/to/python3"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
        die "'$PYTHON' is Python $version; the pack needs Python 3.10 or newer." \
            "Install a newer one and name it: make demo PYTHON=/path/to/python3.11"
}

check_venv_module() {
    # Debian and Ubuntu ship Python without ensurepip (in the separate python3-venv package):
    # `python3 -m venv --help` works there, but creating an environment fails.
    "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 ||
        die "'$PYTHON' cannot create a virtual environment: its venv/ensurepip modules are missing." \
            "Debian/Ubuntu: sudo apt-get install python3-venv (python3.X-venv for a python3.X)," \
            "then run the same make command again."
}

check_node() {
    command -v node >/dev/null 2>&1 || die "no 'node' on PATH: the JavaScript tests (js/tests/) need Node.js 18 or newer." \
        "Install it (Debian/Ubuntu: sudo apt-get install nodejs; macOS: brew install node)," \
        "then run make test again. Nothing was installed yet."
    local major
    major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || major=0
    [ "$major" -ge 18 ] 2>/dev/null || die "node $(node --version 2>/dev/null) is too old: the JavaScript tests use node --test (Node.js 18 or newer)." \
        "Install a newer Node.js, then run make test again."
}

requirements_key() {
    "$PYTHON" - "$TORCH" "$ROOT/requirements.txt" "$ROOT/requirements-test.txt" <<'EOF'
import hashlib, sys
h = hashlib.sha256(sys.argv[1].encode())
for name in sys.argv[2:]:
    with open(name, "rb") as f:
        h.update(b"\0" + f.read())
print(h.hexdigest())
EOF
}

ensure_env() {
    check_python
    if [ -e "$VENV" ] && [ ! -x "$VENV/bin/python" ]; then
        die "$VENV exists but holds no bin/python (not a virtual environment, or a broken one)." \
            "Remove it (rm -rf $VENV) or set VENV to another folder, and run again."
    fi
    if [ ! -e "$VENV" ]; then
        check_venv_module
        say "creating the virtual environment $VENV with $PYTHON"
        if ! "$PYTHON" -m venv "$VENV"; then
            "$PYTHON" -c 'import shutil, sys; shutil.rmtree(sys.argv[1], ignore_errors=True)' "$VENV"
            die "'$PYTHON -m venv $VENV' failed (its message is above); nothing was left behind." \
                "Debian/Ubuntu: sudo apt-get install python3-venv, then run again."
        fi
    fi
    "$VENV/bin/python" -c pass 2>/dev/null ||
        die "$VENV/bin/python does not run (was the Python it was made from removed or upgraded?)." \
            "Remove it (rm -rf $VENV) and run again."
    local key
    key=$(requirements_key)
    if [ -f "$STAMP" ] && [ "$(<"$STAMP")" = "$key" ]; then
        say "reusing $VENV (requirements unchanged since it was set up; remove it to rebuild)"
        return
    fi
    say "installing $TORCH and requirements*.txt into $VENV (first run: a few minutes)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check \
        "$TORCH" -r "$ROOT/requirements.txt" -r "$ROOT/requirements-test.txt" ||
        die "pip could not install $TORCH and the requirements (its message is above)." \
            "To try another torch: make demo TORCH='torch==X.Y.Z'"
    printf '%s\n' "$key" >"$STAMP"
    say "$VENV is ready; later runs reuse it"
}

run_demo() {
    ensure_env
    cd "$ROOT"
    mkdir -p out
    say "sampling the U-Net panel (the reference U-Net, 4 seeds: 1x, then 4x direct, PBC N=3, PBC N=31," \
        "re-dilation), then the RPE-2D panel (tiny DiTs at 2x); each panel's table prints when it is" \
        "done: about 40 s in all on 2 idle CPU cores, much longer on a busy machine" \
        "(there, OMP_NUM_THREADS=1 make demo is far faster)"
    export PYTHONUNBUFFERED=1
    exec "$VENV/bin/python" -m posenc_lab demo --out out/demo.png "$@"
}

run_tests() {
    check_node
    ensure_env
    cd "$ROOT"
    local js=() f rc=0 js_rc=0
    for f in js/tests/*.test.mjs; do [ -e "$f" ] && js+=("$f"); done
    [ ${#js[@]} -gt 0 ] || die "no JavaScript tests found (js/tests/*.test.mjs)."
    "$VENV/bin/python" -m pytest tests -q "$@" || rc=$?
    if [ "$rc" -eq 5 ]; then
        die "pytest collected no tests (exit code 5): check the arguments and tests/."
    fi
    node --test "${js[@]}" || js_rc=$?
    if [ "$rc" -ne 0 ] || [ "$js_rc" -ne 0 ]; then
        die "tests failed: pytest exit code $rc, node --test exit code $js_rc."
    fi
}

case ${1:-} in
    env) ensure_env ;;
    demo) shift; run_demo "$@" ;;
    test) shift; run_tests "$@" ;;
    *)
        printf 'usage: bash tools/dev.sh env | demo [demo args] | test [pytest args]\n' >&2
        exit 2
        ;;
esac
