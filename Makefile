# The two commands of the README: `make run` and `make test`. Both set everything up
# first (system packages, virtual environment, Python packages); a second run is quick.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench setup system-deps clean mini-test

run: setup
	$(BIN)/python -m server --demo

# tests/deploy checks deploy/ with Debian's own tools (skipped where they are missing)
test: export EXTRA_DEBS += nginx docker-compose
test: setup mini-test
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

# The mini-program (miniprogram/README.md): npm ci (when the lock file changed), tdesign packed into
# miniprogram_npm by miniprogram-ci, API types checked against the server's OpenAPI document, tsc,
# the package check, then jest (pages and flows against a real `python -m server` run by this venv).
MINI := miniprogram
MINI_ENV := SERVER_PYTHON=$(abspath $(BIN)/python)

mini-test: setup $(MINI)/node_modules/.installed
	cd $(MINI) && node scripts/pack-npm.js
	cd $(MINI) && $(MINI_ENV) node scripts/api-types.js --check
	cd $(MINI) && npx tsc -p tsconfig.json --noEmit && npx tsc -p tsconfig.json
	cd $(MINI) && node scripts/check-package.js
	cd $(MINI) && $(MINI_ENV) npx jest --ci

$(MINI)/node_modules/.installed: $(MINI)/package-lock.json
	@command -v npm >/dev/null 2>&1 || EXTRA_DEBS="nodejs npm" bash deploy/system-deps.sh $(PYTHON)
	cd $(MINI) && npm ci --no-audit --no-fund
	@touch $@

clean:
	rm -rf $(VENV) .pytest_cache $(MINI)/node_modules $(MINI)/miniprogram_npm
