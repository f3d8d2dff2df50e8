# Glint: the two commands are `make run` and `make test`.
PYTHON ?= python3
# Test processes sharing one embedded PostgreSQL and Redis (tests/parallel.py).
TEST_WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install web lint screenshots bench-idle bench-echo bench-broadcast bench-bridge clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The web app (client_js/): built with npm when it has a package.json.
web:
	@if [ -f client_js/package.json ]; then \
		cd client_js && (npm ci --no-audit --no-fund || npm install --no-audit --no-fund) && npm run build; \
	fi

run: install web
	$(BIN)/glint serve

test: install web
	$(BIN)/ruff check .
	$(BIN)/pytest -q -n $(TEST_WORKERS)

lint: install
	$(BIN)/ruff check .

# The README's feed screenshots (docs/screenshots/), from ../shared's sample photos.
screenshots: install web
	$(BIN)/pytest -q tests/browser/shots_readme.py

bench-idle: install
	$(BIN)/python -m tests.bench.idle

bench-echo: install
	$(BIN)/python -m tests.bench.echo

bench-broadcast: install
	$(BIN)/python -m tests.bench.broadcast

bench-bridge: install
	$(BIN)/python -m tests.bench.bridge

clean:
	rm -rf $(VENV) var client_js/dist client_js/node_modules
