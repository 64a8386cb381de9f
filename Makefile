# cloudpartner.csp developer and CI entry points. `make help` lists them.
# Everything runs from a fresh clone on a machine with only Python 3.11, pip,
# gcc and git; the only network needed is the Python package index.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
# ansible-core 2.16 is the oldest supported release (meta/runtime.yml; AAP 2.5's
# execution environments ship it); 2.20+ needs Python >= 3.12, which these
# machines lack, and is admitted once the suite has run against it. `make test`
# runs on the newest release of the range and repeats the units and
# CORE_OLDEST_INTEGRATION on 2.16 in .venv-2.16 (make core-oldest runs more).
ANSIBLE_CORE ?= ansible-core>=2.16,<2.20
CORE_OLDEST := ansible-core>=2.16,<2.17
CORE_OLDEST_VENV := .venv-2.16
CORE_OLDEST_INTEGRATION ?= inventory_customers
REQUIREMENT_FILES := requirements.txt test-requirements.txt $(wildcard tests/requirements-*.txt)
# The stamp name carries a hash of the requirement files and the ansible-core
# range, so changing any of them reinstalls and an unchanged tree does not.
REQ_HASH := $(shell { cat $(REQUIREMENT_FILES); echo '$(ANSIBLE_CORE)'; } | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(REQ_HASH)

BUILD_ROOT := $(CURDIR)/.build
COLLECTION := $(BUILD_ROOT)/ansible_collections/cloudpartner/csp
ANSIBLE_TEST := $(BIN)/ansible-test
TEST_PYTHON ?= 3.11
# ansible-test finds `python3.11` and its tools on PATH: use the venv's first.
export PATH := $(BIN):$(PATH)

EMULATOR_STATE := $(BUILD_ROOT)/emulator
INTEGRATION_CONFIG := tests/integration/integration_config.yml

.PHONY: units-2.16 integration-2.16 sanity-2.16 core-oldest help venv collection-link emulator lint sanity units emulator-tests sam-tests integration test demo clean \
	collection-build ee-context galaxy-importer awx-artifacts

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

venv: $(STAMP) ## Create .venv with ansible-core, the runtime and the test requirements

$(STAMP): $(REQUIREMENT_FILES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(ANSIBLE_CORE)' -r requirements.txt -r test-requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

collection-link: ## Mirror the collection's files into .build/ansible_collections/cloudpartner/csp
	$(PYTHON) scripts/sync_collection.py

emulator: venv ## Run the emulator with the demo world in the foreground (prints the export lines)
	PYTHONPATH=tests/emulator $(BIN)/python -m csp_emulator serve --world demo

# ansible-lint runs offline (.ansible-lint: no Galaxy installs, no schema downloads, no version check)
# and finds cloudpartner.csp in the .build copy.
lint: venv collection-link ## ruff over the whole tree, ansible-lint (production profile) over roles and playbooks
	$(BIN)/ruff check .
	ANSIBLE_COLLECTIONS_PATH=$(BUILD_ROOT) $(BIN)/ansible-lint --offline --profile production roles playbooks

# All 2.19 sanity tests run here without Docker or network: each test's
# virtual environment is bootstrapped by the get-pip stand-in (see
# scripts/get_pip_standin.py) and filled from the package index. The ones that
# need a tool this machine lacks skip themselves with a warning: pslint (needs
# pwsh; the collection has no PowerShell) and shellcheck unless shellcheck is
# on PATH.
sanity: venv collection-link ## ansible-test sanity on the collection copy
	$(BIN)/python scripts/get_pip_standin.py --install-cache
	cd $(COLLECTION) && $(ANSIBLE_TEST) sanity --venv --python $(TEST_PYTHON) --color no $(SANITY_ARGS)

# Plain pytest in .venv, not `ansible-test units`: the tests need the runtime
# requirements, which .venv already has at the ranges users install, and
# ansible-test units would build and fill a second environment for each run.
# The tests import the collection as ansible_collections.cloudpartner.csp from
# the copy, exactly as ansible-test would, and write no bytecode into it (sanity
# may be reading the copy at the same time under `make test`).
units: venv collection-link ## Unit tests (pytest) against the collection copy
	cd $(COLLECTION) && PYTHONPATH=$(BUILD_ROOT) PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m pytest tests/unit -p no:cacheprovider $(PYTEST_ARGS)

emulator-tests: venv ## The emulator's own pytest suite
	PYTHONPATH=tests/emulator $(BIN)/python -m pytest tests/emulator -p no:cacheprovider $(PYTEST_ARGS)

# Refresh-token rotation under 50 parallel forks, kill -9 during writes, the 90-day
# expiry: the collection's code against the emulator, outside ansible-test.
sam-tests: venv collection-link ## Secure Application Model store tests (concurrency, crash, 90 days)
	PYTHONPATH=$(BUILD_ROOT):tests/emulator PYTHONDONTWRITEBYTECODE=1 $(BIN)/python -m pytest tests/sam -p no:cacheprovider $(PYTEST_ARGS)

# ansible-test strips the environment, so the emulator's endpoints reach the
# targets through tests/integration/integration_config.yml (git-ignored). The
# emulator is stopped however the run ends.
integration: venv ## Integration targets against a fresh emulator (no Docker)
	rm -rf $(EMULATOR_STATE)
	trap 'scripts/stop_emulator.sh $(EMULATOR_STATE)' EXIT; \
	scripts/start_emulator.sh $(EMULATOR_STATE); \
	$(BIN)/python scripts/write_integration_config.py $(EMULATOR_STATE)/state.json $(INTEGRATION_CONFIG); \
	$(PYTHON) scripts/sync_collection.py $(INTEGRATION_CONFIG); \
	cd $(COLLECTION) && $(ANSIBLE_TEST) integration --python-interpreter $(BIN)/python --color no $(INTEGRATION_ARGS)

test: venv ## Everything CI runs: lint, sanity, units, emulator tests, integration; ends with "N passed, N failed"
	$(BIN)/python scripts/run_tests.py lint sanity units emulator-tests sam-tests awx-artifacts integration \
	  units-2.16 integration-2.16 sanity-2.16

# The same steps on ansible-core 2.16 in their own virtual environment (.venv-2.16).
units-2.16: ## Unit tests on ansible-core 2.16
	$(MAKE) --no-print-directory units VENV=$(CORE_OLDEST_VENV) ANSIBLE_CORE='$(CORE_OLDEST)' PYTEST_ARGS='$(PYTEST_ARGS)'

integration-2.16: ## Integration targets CORE_OLDEST_INTEGRATION (or INTEGRATION_ARGS) on ansible-core 2.16
	$(MAKE) --no-print-directory integration VENV=$(CORE_OLDEST_VENV) ANSIBLE_CORE='$(CORE_OLDEST)' \
	  INTEGRATION_ARGS='$(or $(INTEGRATION_ARGS),$(CORE_OLDEST_INTEGRATION))'

sanity-2.16: ## ansible-test sanity of ansible-core 2.16
	$(MAKE) --no-print-directory sanity VENV=$(CORE_OLDEST_VENV) ANSIBLE_CORE='$(CORE_OLDEST)' SANITY_ARGS='$(SANITY_ARGS)'

core-oldest: ## Everything on ansible-core 2.16: sanity, units, every integration target
	$(MAKE) --no-print-directory sanity-2.16 units-2.16
	$(MAKE) --no-print-directory integration-2.16 INTEGRATION_ARGS=' '

# The release artifact: the collection copy with its changelog released for galaxy.yml's version
# (antsibull-changelog release, in a scratch copy: the work tree keeps its fragments), built with
# ansible-galaxy into .build/ee/ (also as cloudpartner-csp.tar.gz, the name ee/local expects).
RELEASE_DIR := $(BUILD_ROOT)/release/ansible_collections/cloudpartner/csp
EE_DIR := $(BUILD_ROOT)/ee
collection-build: venv collection-link ## Build the collection tarball (with CHANGELOG.rst) into .build/ee/
	rm -rf $(BUILD_ROOT)/release && mkdir -p $(RELEASE_DIR) $(EE_DIR)
	cd $(COLLECTION) && git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(RELEASE_DIR)
	cd $(RELEASE_DIR) && $(BIN)/antsibull-changelog lint && $(BIN)/antsibull-changelog release --is-collection >/dev/null
	rm -f $(EE_DIR)/cloudpartner-csp-*.tar.gz
	cd $(RELEASE_DIR) && $(BIN)/ansible-galaxy collection build --force --output-path $(EE_DIR) >/dev/null
	cp $(EE_DIR)/cloudpartner-csp-*.tar.gz $(EE_DIR)/cloudpartner-csp.tar.gz
	@echo "collection-build: $$(ls $(EE_DIR)/cloudpartner-csp-*.tar.gz)"

# ansible-builder writes the build context (Containerfile, requirements) without a container engine;
# building the image (`podman build .build/ee/local/context`) is left to a machine that has one.
ee-context: collection-build ## ansible-builder create for ee/local (the tarball) and ee/galaxy
	for kind in local galaxy; do \
	  rm -rf $(EE_DIR)/$$kind && \
	  $(BIN)/ansible-builder create -f ee/$$kind/execution-environment.yml -c $(EE_DIR)/$$kind/context \
	    --output-filename Containerfile >/dev/null && \
	  grep -q 'ansible-galaxy collection install' $(EE_DIR)/$$kind/context/Containerfile && \
	  echo "ee-context: $(EE_DIR)/$$kind/context/Containerfile"; \
	done
	tar -xzOf $(EE_DIR)/local/context/_build/collections/cloudpartner-csp.tar.gz CHANGELOG.rst | grep -c 'cloudpartner.csp' >/dev/null

# galaxy-importer (what Galaxy runs on upload) in its own virtual environment: it pins linters of its
# own. scripts/galaxy-importer.cfg runs it offline: no ansible-test container, no network.
GALAXY_IMPORTER_VENV := $(BUILD_ROOT)/galaxy-importer-venv
$(GALAXY_IMPORTER_VENV)/.installed: scripts/galaxy-importer-requirements.txt
	test -x $(GALAXY_IMPORTER_VENV)/bin/python || $(PYTHON) -m venv $(GALAXY_IMPORTER_VENV)
	$(GALAXY_IMPORTER_VENV)/bin/python -m pip install --quiet -r scripts/galaxy-importer-requirements.txt
	touch $@

galaxy-importer: collection-build $(GALAXY_IMPORTER_VENV)/.installed ## galaxy-importer on the built tarball
	cd $(EE_DIR) && PATH=$(GALAXY_IMPORTER_VENV)/bin:$$PATH GALAXY_IMPORTER_CONFIG=$(CURDIR)/scripts/galaxy-importer.cfg \
	  $(GALAXY_IMPORTER_VENV)/bin/python -m galaxy_importer.main $$(ls $(EE_DIR)/cloudpartner-csp-*.tar.gz) \
	  >$(EE_DIR)/galaxy-importer.log 2>&1 || { cat $(EE_DIR)/galaxy-importer.log; exit 1; }
	$(BIN)/python scripts/check_galaxy_import.py $(EE_DIR)

awx-artifacts: ee-context galaxy-importer ## The release tarball, galaxy-importer on it, the execution environments' build contexts

# The demo: a fresh emulator with the demo world; playbooks/demo.yml over two inventories, the partner
# tenants (playbooks/inventory/demo.yml) and their customers from Partner Center (the customers inventory
# plugin, playbooks/inventory/demo.csp_customers.yml); one fork per customer of the world. The reports go
# to DEMO_REPORT_DIR (round one's in its round-1/).
DEMO_REPORT_DIR ?= $(BUILD_ROOT)/demo-report
DEMO_FORKS ?= 25

demo: venv ## Onboard the demo world's 25 customers on a fresh emulator (approvals through its control API), then the report
	rm -rf $(EMULATOR_STATE)-demo
	trap 'scripts/stop_emulator.sh $(EMULATOR_STATE)-demo' EXIT; \
	scripts/start_emulator.sh $(EMULATOR_STATE)-demo; \
	$(PYTHON) scripts/sync_collection.py; \
	eval "$$($(BIN)/python scripts/emulator_env.py $(EMULATOR_STATE)-demo/state.json)"; \
	ANSIBLE_COLLECTIONS_PATH=$(BUILD_ROOT) $(BIN)/ansible-playbook --forks $(DEMO_FORKS) \
	  -i playbooks/inventory/demo.yml -i playbooks/inventory/demo.csp_customers.yml \
	  -e 'demo_report_dir=$(abspath $(DEMO_REPORT_DIR))' playbooks/demo.yml; \
	echo "make demo: done in $${SECONDS} s; the onboarding report is $(abspath $(DEMO_REPORT_DIR))/report.md (also report.json, report.html; round one's in round-1/)"

clean: ## Remove .build and .venv
	rm -rf $(BUILD_ROOT) $(VENV)
