# snapfleet.snapd: the map of what a developer can run. `make help` lists the targets.
SHELL := /bin/bash
HOSTS ?=
FLAVOUR ?= mixed
SNAPS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-zA-Z0-9_.-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# --- the suite: venvs, lint, sanity, unit tests, tarball (tests/tools/) ---
# tests/tools/bootstrap.sh links these to venvs cached under
# ${SNAPFLEET_CACHE:-${XDG_CACHE_HOME:-~/.cache}/snapfleet}/venvs/, keyed by their requirements.
VENV := .venv
VENV_CORE220 := .venv-core2.20
VENV_CORE221 := .venv-core2.21
VENV_PYTHON := $(VENV)/bin/python
VENVS_READY := $(VENV)/.snapfleet-requirements.txt $(VENV_CORE220)/.snapfleet-requirements.txt \
               $(VENV_CORE221)/.snapfleet-requirements.txt
IN_COLLECTION := tests/tools/run-in-collection.sh
# ansible-lint: no update check against GitHub, no schema download (offline but for PyPI).
LINT_ENV := PRE_COMMIT=1 ANSIBLE_LINT_SKIP_SCHEMA_UPDATE=1
# What `make test` runs, in order; add parts with `TEST_PARTS += name` next to their targets.
# `lab-build&` bakes the lab images in the background (tests/tools/run-parts.sh); the lab parts wait for it
# where `lab-build` is listed again. The `&idle` parts (the controller-only checks that need no tarball) run in
# the background at the lowest CPU priority, one at a time, on the CPU the bake and the lab's VMs leave idle,
# so that the bake, which the lab parts wait for, gets the CPU first; the run waits for them at the end, where
# they are listed again. Parts that make the tarball (build, ee, docsite-check) stay in the foreground: the
# lab parts install it.
TEST_PARTS := bootstrap lab-build& units-2.19&idle units-2.21&idle sanity-2.19&idle sanity-2.21&idle lint&idle \
              test-report&idle bench-controller-smoke&idle build

.PHONY: bootstrap lint sanity sanity-2.19 sanity-2.20 sanity-2.21 units units-2.19 units-2.21 build test

bootstrap: ## create or reuse the venvs (.venv, .venv-core2.20, .venv-core2.21) and install the apt packages
	tests/tools/bootstrap.sh

$(VENVS_READY) &: tests/requirements/controller.txt tests/requirements/core-2.20.txt tests/requirements/core-2.21.txt \
                  tests/tools/bootstrap.sh
	tests/tools/bootstrap.sh

lint: $(VENVS_READY) ## ansible-lint (production profile), antsibull-docs and changelog lint
	$(LINT_ENV) $(IN_COLLECTION) $(VENV) ansible-lint
	$(IN_COLLECTION) $(VENV) antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs=all .
	$(VENV)/bin/antsibull-changelog lint

sanity: sanity-2.19 sanity-2.20 sanity-2.21 ## ansible-test sanity on ansible-core 2.19, 2.20 and 2.21, no ignore entries

sanity-2.19: $(VENVS_READY) ## ansible-test sanity, ansible-core 2.19 on Python 3.11
	$(IN_COLLECTION) --shipped $(VENV) ansible-test sanity --venv --python 3.11 --color no

sanity-2.20: $(VENVS_READY) ## ansible-test sanity, ansible-core 2.20 on Python 3.13
	$(IN_COLLECTION) --shipped $(VENV_CORE220) ansible-test sanity --venv --python 3.13 --color no

sanity-2.21: $(VENVS_READY) ## ansible-test sanity, ansible-core 2.21 on Python 3.12
	$(IN_COLLECTION) --shipped $(VENV_CORE221) ansible-test sanity --venv --python 3.12 --color no

units: units-2.19 units-2.21 ## unit tests (tests/unit) with ansible-test units on both cores

units-2.19: $(VENVS_READY) ## unit tests, ansible-core 2.19 on Python 3.11
	tests/tools/require-tests.sh tests/unit
	$(IN_COLLECTION) --shipped $(VENV) ansible-test units --venv --python 3.11 --num-workers 1 --color no

units-2.21: $(VENVS_READY) ## unit tests, ansible-core 2.21 on Python 3.12
	tests/tools/require-tests.sh tests/unit
	$(IN_COLLECTION) --shipped $(VENV_CORE221) ansible-test units --venv --python 3.12 --num-workers 1 --color no

build: $(VENVS_READY) ## build build/snapfleet-snapd-*.tar.gz and fail if it holds any non-collection file
	rm -f build/snapfleet-snapd-*.tar.gz
	$(VENV)/bin/ansible-galaxy collection build --force --output-path build
	tests/tools/check-tarball.sh build/snapfleet-snapd-*.tar.gz

test: ## the whole suite (the parts in TEST_PARTS), with per-part timings and a summary
	tests/tools/run-parts.sh $(foreach part,$(TEST_PARTS),'$(part)')

# The execution environment of examples/execution-environment/, as a user makes it: the definition copied
# to build/ee/ with the built tarball next to it, `ansible-builder create` (no container engine), then
# the context checked (tests/tools/check-ee-context.sh). `ansible-builder build -f build/ee/...` builds it.
.PHONY: ee
ee: build ## the AWX execution environment's build context in build/ee/context (ansible-builder create), checked
	rm -rf build/ee
	mkdir -p build/ee
	cp examples/execution-environment/execution-environment.yml examples/execution-environment/requirements.yml \
	    build/snapfleet-snapd-*.tar.gz build/ee/
	cd build/ee && $(CURDIR)/$(VENV)/bin/ansible-builder create --output-filename Containerfile
	tests/tools/check-ee-context.sh build/ee/context

TEST_PARTS += ee

# The docs site (antsibull-docs collection): its guides are the Markdown in docs/, written as
# docs/docsite/rst/*.rst by tests/tools/docsite.py; docsite-check fails when they are stale, then renders
# the site from the built tarball into build/docsite/ and checks every guide of extra-docs.yml is in it.
.PHONY: docsite docsite-check
docsite: $(VENVS_READY) ## write the docs site's guides (docs/docsite/rst/) from the Markdown in docs/
	$(VENV_PYTHON) tests/tools/docsite.py

docsite-check: build ## the docs site: guides current with docs/*.md, rendered by antsibull-docs collection into build/docsite
	$(VENV_PYTHON) tests/tools/docsite.py --check
	rm -rf build/docsite
	$(VENV)/bin/ansible-galaxy collection install -p build/docsite/collections build/snapfleet-snapd-*.tar.gz >/dev/null
	install -d -m 0755 build/docsite/rst
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/build/docsite/collections" \
	    $(VENV)/bin/antsibull-docs collection --use-current --squash-hierarchy --dest-dir build/docsite/rst snapfleet.snapd
	for page in $$(sed -n 's/^ *- ref: //p' docs/docsite/extra-docs.yml); do \
	    test -s build/docsite/rst/docsite/$$page.rst || { echo "FAIL: the docs site has no guide $$page"; exit 1; }; \
	    grep -q "docsite/$$page>" build/docsite/rst/index.rst || { echo "FAIL: the docs site's index does not list $$page"; exit 1; }; \
	done
	@echo "OK: build/docsite/rst holds the guides of docs/docsite/extra-docs.yml, listed in its index"

TEST_PARTS += docsite-check

# --- lab: real snapd hosts in qemu (tests/lab/README.md) ---
LAB := $(VENV_PYTHON) -m tests.lab
# The images the test suite uses: the three snapd generations, and forky without Python.
LAB_IMAGES ?= bookworm,trixie,forky,forky:nopython
.PHONY: test-lab-tool lab-build lab-up lab-down lab-status test-lab test-integration test-report
test-lab-tool: $(VENVS_READY) ## unit tests of the lab tool (flavour specs, cache keys, inventory); no VM
	$(VENV_PYTHON) -m pytest -p no:cacheprovider -q tests/lab

lab-build: $(VENVS_READY) ## build (or reuse from cache) the images the tests use (LAB_IMAGES): bookworm, trixie, forky, forky:nopython
	$(LAB) build --flavour $(LAB_IMAGES)

lab-up: $(VENVS_READY) ## resume a lab fleet: FLAVOUR=mixed (bookworm,trixie,forky) or e.g. trixie,forky:nopython; HOSTS=N SNAPS="dir ..."
	$(LAB) up $(if $(HOSTS),--hosts $(HOSTS)) --flavour $(FLAVOUR) $(if $(SNAPS),--snaps $(SNAPS))

lab-down: $(VENVS_READY) ## stop every lab VM and remove its overlay
	$(LAB) down

lab-status: $(VENVS_READY) ## list the running lab VMs
	$(LAB) status

test-lab: build lab-build ## pytest -m lab: the lab itself, the fleet playbooks, AWX jobs, faults, bad input, in-use guard
	$(VENV_PYTHON) -m pytest -m lab -p no:cacheprovider -v --durations=0 tests/system

test-integration: build lab-build ## integration targets through molecule on one forky host (SNAPFLEET_MOLECULE_FLAVOUR=trixie,forky for others)
	rm -rf build/collections
	$(VENV)/bin/ansible-galaxy collection install -p build/collections build/snapfleet-snapd-*.tar.gz
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH="$(CURDIR)/build/collections" \
	    MOLECULE_GLOB='molecule/*/molecule.yml' molecule test --all

test-report: $(VENVS_READY) ## the shm_report role on a fake controller-local fleet (no lab needed)
	$(VENV_PYTHON) -m pytest -m report -p no:cacheprovider -v tests/report

TEST_PARTS += test-lab-tool lab-build test-lab test-integration

# The molecule scenario users copy (examples/molecule/), run as its README tells a user to, against two
# lab hosts of its own (snapd 2.68 with Python, 2.77 without): tests/tools/molecule-example.sh.
.PHONY: test-molecule-example
test-molecule-example: build lab-build ## the users' molecule scenario (examples/molecule/) on a trixie + Python-less forky fleet
	tests/tools/molecule-example.sh

TEST_PARTS += test-molecule-example

.PHONY: demo
demo: build lab-build ## the demo: 3 real snapd hosts (DEMO_FLAVOUR, default bookworm,trixie,forky:nopython): apply the example fleet spec, audit, print the report, stop them
	tests/tools/demo.sh

# --- benchmarks ---
# tests/benchmarks/README.md: ours over snap debug api and over Python vs community.general.snap_connect
# vs `snap connect` in a command task vs snapd alone, on a forky lab host, with issue 11's targets.
# `make test` runs only bench-smoke (the report's unit tests, then every variant once at K=1: about
# 4 minutes), so the benchmark never rots; its timings never fail the suite. Knobs: REPEAT (at least 3
# for numbers worth quoting) and KS (the numbers of connections, 1 to 10).
REPEAT ?= 3
KS ?= 1 5 10
.PHONY: bench bench-smoke
bench: build lab-build ## benchmark on the lab: table with the targets, results.json and chart.svg in tests/benchmarks/results/
	$(VENV_PYTHON) -m tests.benchmarks.bench --repeat $(REPEAT) --ks $(KS)

bench-smoke: build lab-build ## the benchmark once at K=1: every variant runs and every output is written
	$(VENV_PYTHON) -m pytest -p no:cacheprovider -q tests/benchmarks/test_report.py
	$(VENV_PYTHON) -m tests.benchmarks.bench --smoke --results tests/benchmarks/results/smoke

TEST_PARTS += bench-smoke units-2.19 units-2.21 sanity-2.19 sanity-2.21 lint test-report bench-controller-smoke

# The report step at fleet scale, on the controller alone (no lab): snapfleet.snapd.report on fake fleets,
# from a fact cache and from workflow artifacts. Fails when 10,000 hosts take over 60 s or growth is not linear.
# The controller's own cost of a no-op at fleet scale (issue 19), no lab: 500 local hosts with a FAKE snap
# replaying recorded answers, shm_connection against `raw` running the same snap debug api command, forks 20.
.PHONY: bench-controller bench-controller-smoke
bench-controller: $(VENVS_READY) ## controller CPU per host of a no-op against raw, 500 fake hosts, forks 20 (HOSTS, FORKS, REPEAT)
	$(VENV_PYTHON) tests/benchmarks/controller_cost.py --hosts $(or $(HOSTS),500) --forks $(or $(FORKS),20) --repeat $(REPEAT)

bench-controller-smoke: $(VENVS_READY) ## bench-controller on 2 hosts, once: it runs, checks its runs and writes its outputs
	$(VENV_PYTHON) -m pytest -p no:cacheprovider -q tests/benchmarks/test_controller_cost.py

.PHONY: bench-report
bench-report: $(VENVS_READY) ## the fleet report on 100 to 10,000 fake hosts: time and peak memory table
	$(VENV_PYTHON) -m tests.benchmarks.fleet_report
