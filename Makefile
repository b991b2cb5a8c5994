# Two entry points for a fresh machine: `make run` (backend + worker) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# A real Label Studio 1.23.2 in its own virtualenv, for the end-to-end tests.
.ls-venv/bin/label-studio:
	scripts/install-label-studio

install: $(VENV)/.installed .ls-venv/bin/label-studio

run: $(VENV)/.installed
	$(PY) -m vidseg serve

test: $(VENV)/.installed .ls-venv/bin/label-studio
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check selection propagation vidseg tests benchmarks model.py _wsgi.py

.PHONY: install run test lint
