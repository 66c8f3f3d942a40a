# From a fresh clone, two commands (README, Quick start):
#   make demo   set up (or reuse) .venv, then run the demo: out/demo.png, out/demo_rpe2d.png, tables
#   make test   set up (or reuse) .venv, then the whole test suite as CI runs it
# Both need only Python 3.10+ with venv, and node 18+ for the tests. The set-up lives in
# tools/dev.sh, which CI's .ci/run calls too. Settings: make test VENV=... PYTHON=... TORCH=...
.PHONY: help demo test env

help:
	@echo "make demo   set up (or reuse) .venv, then write out/demo.png and out/demo_rpe2d.png"
	@echo "make test   set up (or reuse) .venv, then run the whole test suite as CI runs it"
	@echo "make env    set up (or reuse) .venv only"

demo:
	@bash tools/dev.sh demo

test:
	@bash tools/dev.sh test

env:
	@bash tools/dev.sh env
