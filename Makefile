# Entry points for a fresh machine: `make run` (backend + worker), `make test`, and `make demo`
# (a local Label Studio with the backend and a project to label: `make demo [VIDEO=clip.mp4] [CLASSES=Road,Car]`).
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

# Ctrl-C stops Label Studio, the backend and its Redis. LS_PORT, BACKEND_PORT: when 8080 or 9090 is taken.
LS_PORT ?= 8080
BACKEND_PORT ?= 9090
demo: $(VENV)/.installed .ls-venv/bin/label-studio
	$(PY) -m vidseg.demo --ls-port $(LS_PORT) --backend-port $(BACKEND_PORT) \
		$(if $(VIDEO),--video "$(VIDEO)") $(if $(CLASSES),--classes "$(CLASSES)")

test: $(VENV)/.installed .ls-venv/bin/label-studio
	$(PY) -m pytest -q

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check selection propagation vidseg tests benchmarks model.py _wsgi.py

.PHONY: install run demo test lint
