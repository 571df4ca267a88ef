# Two commands for a newcomer (see README.md):
#   make demo   create .venv, install Bimbing, run the demo office
#   make test   create .venv, install Bimbing with its test tools, run the tests
# The install steps run again only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
PIP := $(VENV)/bin/pip --disable-pip-version-check --quiet
PORT ?= 8080
DEMO_ARGS ?=
# The suite runs in TEST_WORKERS processes (pytest-xdist); browser tests share one
# of them (tests/README.md, "How the suite runs"). Measured on the 2-core machine.
TEST_WORKERS ?= 6
# More flags for installing Bimbing (CI: --no-compile, .ci/run says why).
PIP_FLAGS ?=

.PHONY: demo test clean

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Bimbing needs Python 3.11 or newer; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed-app: pyproject.toml | $(VENV)/bin/python
	$(PIP) install $(PIP_FLAGS) -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install $(PIP_FLAGS) -e '.[test]'
	@touch $@ $(VENV)/.installed-app

demo: $(VENV)/.installed-app
	$(VENV)/bin/bimbing demo --port $(PORT) $(DEMO_ARGS)

test: $(VENV)/.installed-test
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

clean:
	rm -rf $(VENV) .pytest_cache tests/artifacts
