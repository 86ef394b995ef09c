# asalee-devices — developer commands. Needs only python3 on a fresh machine.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest bench venv clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## make test: install into .venv, then ruff, mypy (src/) and pytest
test: $(STAMP) lint typecheck pytest

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
