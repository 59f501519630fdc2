# The two Quick start commands: `make run` and `make test`. Each installs what it needs first, from
# requirements.lock (exact versions with hashes, the test tools included): `make run`, `make test`
# and CI install the same thing. Upgrades are deliberate commits: `make lock`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
UV_VERSION := 0.13.8

.PHONY: run test install install-test browser lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# --no-deps: nothing is resolved at install time, so a new release elsewhere cannot change what runs;
# --no-build-isolation: Loupe itself is built with the locked setuptools, not the newest one.
$(STAMP): $(LOCK) pyproject.toml package.json package-lock.json | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	npm install --no-audit --no-fund --silent
	touch $(STAMP)

install: $(STAMP)

# Debian's Chromium for the Playwright UI tests (Playwright's own browser download is not used).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: install
	$(BIN)/python -m config.launcher

# Two test processes (pytest-xdist): each has its own test database, Celery queue and worker
# (config/settings/test.py), so they never see each other's data. The suite is mostly waiting (worker
# round trips, a browser, a server starting): two processes take ~2/3 of the time of one on two cores.
test: install browser
	$(BIN)/python -m pytest -n 2

# Re-resolve the lock after a change to pyproject.toml, keeping every other pin as it is (packages listed in
# requirements-excludes.txt are never locked: see there why);
# `make lock UPGRADE=1` moves everything to the newest allowed versions (review the diff, run `make test`).
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 --universal --generate-hashes \
		--excludes requirements-excludes.txt \
		--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade) -o $(LOCK)
