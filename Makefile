# The two commands of the README: `make run` and `make test`. Both set everything up
# first (system packages, virtual environment, Python packages); a second run is quick.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The suite runs in two processes (pytest-xdist); `make test PYTEST_ARGS=` runs it in one.
PYTEST_ARGS ?= -n 2

.PHONY: run test bench setup system-deps clean mini-test web

run: setup web
	$(BIN)/python -m server --demo

# tests/web drive Debian's chromium; tests/deploy check deploy/ with Debian's own tools (skipped where missing)
test: export EXTRA_DEBS += chromium nginx docker-compose
test: setup web mini-test
	$(BIN)/ruff check server tests bench
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: export EXTRA_DEBS += wrk
bench: setup
	$(BIN)/python -m bench
bench: web  # the web benchmark loads the built web view

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
	rm -rf $(VENV) .pytest_cache $(MINI)/node_modules $(MINI)/miniprogram_npm web/dist web/node_modules

# The web view (web/, README "Web view"): Node.js 18.18 or newer (deploy/system-deps.sh installs Debian's
# nodejs and npm where there is no node). Built again only when its sources changed since the last build.
run test web: export NEED_NODE = 1
WEB_SOURCES := $(shell find web/src web/public web/scripts -type f 2>/dev/null) web/index.html \
	web/vite.config.ts web/tsconfig.json web/eslint.config.js web/package.json
WEB_DEPS := web/node_modules/.installed
WEB_STAMP := web/dist/.built

web: system-deps $(WEB_STAMP)

$(WEB_DEPS): web/package-lock.json
	@node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 18) ? 0 : 1)' \
		|| { echo "The web view needs Node.js 18.18 or newer; found $$(node -v 2>/dev/null || echo none). Install a newer nodejs." >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	@touch $(WEB_DEPS)

$(WEB_STAMP): $(WEB_DEPS) $(WEB_SOURCES)
	@echo "web: the web view's sources changed since the last build: type-check, lint and build (web/dist)"
	cd web && npm run -s type-check && npm run -s lint && npm run -s build -- --logLevel warn
	@touch $(WEB_STAMP)
