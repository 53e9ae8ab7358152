# The two Quick start commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint

$(BIN)/straja: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[fast,test,postgres]'
	touch $(BIN)/straja

venv: $(BIN)/straja

# Set up and run Straja on the example config (Ctrl-C stops it).
run: venv
	$(BIN)/straja serve --config config.example.yaml

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

# The whole test suite: Debian test tools, lint, types, then pytest against real servers.
test: venv
	./scripts/test-deps
	$(MAKE) lint
	$(BIN)/python -m pytest
