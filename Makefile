# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - a simulated cluster converging end to end (the main job)
#   make test   - the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint schemas bench clean

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python >= 3.11 is required, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

demo: $(BIN)/.installed
	$(BIN)/kraken demo

test: $(BIN)/.installed
	$(BIN)/ruff check reconciler tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/pytest

schemas: $(BIN)/.installed
	$(BIN)/python -m reconciler.model.schemas schemas

bench: $(BIN)/.installed
	@for b in benchmarks/*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
