# Consilium: `make demo` runs the platform with the demo panel, `make test` runs the suite.
# Both install what they need first (a .venv with Python >= 3.12, found by bin/find-python).

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# PyTensor's compile cache (also numba's) survives restarts here: a warm cache saves most of
# a model's first-fit time (see bench/README.md).
export PYTENSOR_FLAGS ?= base_compiledir=$(CURDIR)/var/pytensor

.PHONY: install demo serve test test-fast lint bench browser clean help

help:
	@echo "make demo       install, migrate, load the demo panel, run redis + worker + web on 127.0.0.1:8000"
	@echo "make serve      production-like: migrate, collectstatic, gunicorn + Celery worker + beat, DEBUG=0 (README.md, Production)"
	@echo "make test       install, then run the whole test suite (slow sampler and browser tests included)"
	@echo "make test-fast  the suite without slow and browser tests"
	@echo "make lint       ruff"
	@echo "make bench      engine benchmarks (bench/README.md)"

install: $(STAMP)

# Re-runs only when pyproject.toml changes or the venv is missing / too old.
$(STAMP): pyproject.toml bin/find-python
	@if ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then \
		python=$$(bin/find-python) || exit 1; \
		echo "Creating $(VENV) with $$python"; \
		rm -rf $(VENV) && "$$python" -m venv $(VENV) || exit 1; \
	fi
	@mkdir -p var
	@echo "Installing dependencies into $(VENV) (log: var/install.log)..."
	@{ $(PY) -m pip install --disable-pip-version-check --upgrade pip \
	   && $(PY) -m pip install --disable-pip-version-check -e '.[dev]'; } >var/install.log 2>&1 \
	   || { tail -n 30 var/install.log; echo "pip install failed; the full log is var/install.log" >&2; exit 1; }
	@# numba's on-disk cache of the engine's code: the first fit then starts in a second
	@$(PY) -m aggregation.engine.warm || echo "(not compiled now: the first fit will compile it)"
	@touch $(STAMP)

demo: install
	@bin/ensure-chromium --font-only || true
	$(PY) bin/demo

serve: install
	$(PY) bin/serve

browser:
	@bin/ensure-chromium

test: install browser
	$(PY) -m pytest -n 2 --durations=25 $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -m "not slow and not browser and not e2e" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) var
