# The project's commands. `make demo` and `make test` work on a fresh clone: each sets up
# what it needs first (the virtual environment, and for the sandbox Node 22, the reference
# Bluesky servers and PostgreSQL, cached outside the repo in ~/.cache/departures).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install system-deps demo test test-fast lint bench i18n clean

install: $(STAMP)

# Debian's Chromium and PostgreSQL binaries (apt-get as root; a hint otherwise).
system-deps:
	@bash scripts/system-deps.sh

# Re-install whenever pyproject.toml changes; pip is quiet unless something fails.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: install
	@$(BIN)/python -m departures.demo

test: install system-deps
	@$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install
	@$(BIN)/python -m pytest -m "not sandbox and not postgres and not browser and not wheel" $(PYTEST_ARGS)

lint: install
	@$(BIN)/ruff check src tests bench
	@$(BIN)/ruff format --check src tests bench
	@$(BIN)/mypy

bench: install
	@$(BIN)/python bench/run_all.py

# Texts in three languages: extract the marked texts (babel.cfg), update the nl and fr .po
# files (sorted, no locations: they merge cleanly), compile the .mo files the service reads.
i18n: install
	@$(BIN)/python -m departures.i18n_catalogues update

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
