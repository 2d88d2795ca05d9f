# livevault: `make run` starts the service (embedded: SQLite + local disk), `make test` runs the tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run testsrc test check lint typecheck imports security audit bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# `make run` is the laptop quick start: it binds 127.0.0.1 and lets loopback/LAN sources through so
# `livevault testsrc` can be recorded. `livevault serve` alone refuses private sources (safe default).
# It also allows 600 requests a minute per key (a browser page plus a poller of /jobs every second);
# the production default stays RATE_LIMIT_PER_MIN=60.
ALLOW_PRIVATE ?= true
RUN_RATE_LIMIT ?= 600

run: $(STAMP)
	LIVEVAULT_ALLOW_PRIVATE_SOURCES=$${LIVEVAULT_ALLOW_PRIVATE_SOURCES:-$(ALLOW_PRIVATE)} \
	RATE_LIMIT_PER_MIN=$${RATE_LIMIT_PER_MIN:-$(RUN_RATE_LIMIT)} $(VENV)/bin/livevault serve

testsrc: $(STAMP)
	$(VENV)/bin/livevault testsrc

# Two pytest workers (pytest-xdist), a test file per worker: most tests wait on real-time streams, so two run
# side by side in about half the time. PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile --cov=livevault --cov-report=term --cov-fail-under=85 \
		$(PYTEST_ARGS)

check: lint typecheck imports security audit

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy

imports: $(STAMP)
	$(VENV)/bin/lint-imports

# bandit: every finding fixed or justified inline (`# nosec <id>`; B101 is skipped in pyproject.toml, with why).
security: $(STAMP)
	$(VENV)/bin/bandit -c pyproject.toml -r src -q

# pip-audit needs PyPI's JSON API or api.osv.dev; offline it says NOT AUDITED (LIVEVAULT_REQUIRE_AUDIT=1 fails).
audit: $(STAMP)
	$(PY) .ci/audit.py

bench: $(STAMP)
	$(PY) bench/capture.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* htmlcov
