# Everything a newcomer needs: `make run` starts the stack, `make test` runs the tests.
# Both create .venv and install what they need on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes; each test file runs whole on one of them (its module-scoped stacks are not shared).
# The `slow` scenarios (kills and drains of 50,000 events, each bounded in time) run afterwards, alone,
# with the `serial` tests (the API fuzz tests, whose generated cases pytest-xdist would drop).
TEST_PROCS ?= 2

.PHONY: run test test-unit bench lint format clean chromium

$(STAMP): pyproject.toml sdk/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' -e ./sdk
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/revos run

test: $(STAMP) chromium
	$(BIN)/pytest -n $(TEST_PROCS) --dist loadfile -m "not slow and not serial" $(PYTEST_ARGS)
	$(BIN)/pytest -m "slow or serial" $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: PYTEST_ARGS picked none of them

# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	} || echo "warning: could not install chromium; the browser tests will be skipped"

test-unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/revos bench

lint: $(STAMP)
	$(BIN)/ruff check pipeline agents projections gateway infra sdk tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format pipeline agents projections gateway infra sdk tests

clean:
	rm -rf $(VENV) .revos .pytest_cache .mypy_cache .ruff_cache
