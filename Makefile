# asalee-devices — developer commands. Needs only python3 on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest bench venv clean system-deps node-deps

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## Debian tools some tests need (poppler-utils renders the PDF reports to PNG; chromium runs the web app's browser
## tests through Playwright, never a downloaded browser); installed when missing and root
system-deps:
	@if ! command -v pdftoppm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing poppler-utils (pdftoppm)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; \
	  else echo "note: pdftoppm not found; PDF rendering tests will be skipped (install poppler-utils)"; fi; \
	fi
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (web app browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: /usr/bin/chromium not found; web browser tests will be skipped (apt-get install chromium)"; fi; \
	fi

## Node FHIR validators used by tests/fhir (FHIR.js + @medplum/core, pinned by tests/node/package-lock.json)
node-deps:
	@if command -v npm >/dev/null 2>&1; then \
	  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error); \
	else echo "note: npm not found; the Node FHIR validator tests will be skipped (they fail when CI=true)"; fi

## make test: install into .venv, then ruff, mypy (src/) and pytest
test: $(STAMP) system-deps node-deps lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

## make demo: the main job on the embedded defaults (simulators, ./asalee-output/ as the record)
demo: $(STAMP)
	$(BIN)/asalee-devices demo

## make bench: the benchmarks in bench/ (installs the peers they compare with)
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	for f in bench/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache asalee-output
