# The two commands: `make demo` and `make test`. Both create or refresh .venv themselves.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arkos-installed
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: demo test venv clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "arkos needs Python 3.11 or newer on PATH"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	cd examples/blog && PORT=$(PORT) ../../$(BIN)/python seed.py
	cd examples/blog && ../../$(BIN)/arkos dev --host 127.0.0.1 --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto -p no:cacheprovider $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) examples/blog/blog.db* .pytest_cache
