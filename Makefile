# The two commands of the README: `make run` and `make test`. Both set everything up
# first (system packages, virtual environment, Python packages); a second run is quick.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench setup system-deps clean

run: setup
	$(BIN)/python -m server --demo

test: setup
	$(BIN)/ruff check server tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: export EXTRA_DEBS += wrk
bench: setup
	$(BIN)/python -m bench

setup: system-deps $(STAMP)

system-deps:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required" >&2; exit 1; }
	@bash deploy/system-deps.sh $(PYTHON)

# Reinstall only when the project's requirements change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,test]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .pytest_cache
