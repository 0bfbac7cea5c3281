# Two commands on a fresh machine: `make demo` and `make test`.
# The venv is built with uv (about 10 s) from the pinned requirements.txt. uv ignores pip's
# configuration, so the wheel folder pip is configured with (a local CPU build of torch) is
# passed to it explicitly; without it uv would fetch a multi-GB CUDA build of torch.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
FIND_LINKS := $(shell pip config get global.find-links 2>/dev/null)
UV_FLAGS := $(foreach d,$(FIND_LINKS),--find-links $(d))

.PHONY: install demo test lint services bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --python $(PY) $(UV_FLAGS) -r requirements.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -r requirements-nodeps.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lmrec demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

# Servers the tests use (PostgreSQL); installs Debian's package when root. Never fails:
# the tests that need a server skip, saying why, when it cannot run.
services:
	scripts/test-services.sh

test: lint services
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/baselines.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
