# Two commands on a fresh Debian 12 machine (as root): `make lab`, `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := .venv
PY := $(VENV)/bin/python
LAB_NODES ?= 6
# Extra arguments for the lab's converge, e.g. LAB_ARGS="-e proxy_backend=traefik".
LAB_ARGS ?=
# The virtualenv is rebuilt when the dependency ranges change.
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export LAB_NODES

# The lab inventory's vault.yml is encrypted with the lab's own vault password (python -m lab up).
lab integration drill-rebuild molecule bench bench-quick bench-quick-lab bench-quick-apart: export ANSIBLE_VAULT_PASSWORD_FILE := $(CURDIR)/.lab/vault-password

.PHONY: lab lab-up lab-down test lint sanity unit engine integration drill-rebuild molecule bench bench-quick \
	bench-quick-lab bench-quick-apart \
	venv docker

# uv installs the same set in seconds where pip takes most of a minute (resolving, and
# compiling every module of ansible-core that no test may import); the setup runs before
# both lanes of make test. pip is what installs it, and what installs the set if uv cannot.
$(STAMP): pyproject.toml
	rm -f $(VENV)/.installed-*
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install -q --python $(VENV)/bin/python -e '.[test]' \
	  || $(VENV)/bin/pip install -q -e '.[test]'
	# What every ansible process imports, compiled once (a second): uv writes no bytecode,
	# and where PYTHONDONTWRITEBYTECODE is set, as on CI here, each ansible-playbook and each
	# worker it forks compiled Jinja, YAML, cryptography and paramiko from source again.
	cd "$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	  && $(abspath $(VENV))/bin/python -m compileall -q -j 0 ansible jinja2 markupsafe yaml \
	     cryptography paramiko bcrypt nacl resolvelib packaging cffi > /dev/null
	touch $@

venv: $(STAMP)

docker:
	./scripts/ensure-docker.sh

## lab: build the lab hosts and converge playbooks/site.yml on them
lab: lab-up
	ansible-playbook -i inventory/lab playbooks/site.yml $(LAB_ARGS)
	$(PY) -m lab status

lab-up: venv docker
	$(PY) -m lab up --nodes $(LAB_NODES)

## lab-down: remove every container, network, volume and image tag the lab made
lab-down:
	@if [ -x $(PY) ]; then $(PY) -m lab down --images; else python3 -m lab down --images; fi

## test: every test: lint, sanity, unit, engine, the lab integration suite, every benchmark once in
## its quick mode, molecule; ends with the time each phase took (the lab suite per module, the
## benchmarks per script, molecule per scenario), then for each failed phase the lines that
## say what failed. The lab suite and then the benchmarks run in one lane (both need the lab)
## and the rest beside it in another (scripts/run-phases says why); there molecule runs one
## scenario at a time unless MOLECULE_JOBS says otherwise.
test:
	@MOLECULE_JOBS=$${MOLECULE_JOBS:-1} scripts/run-phases "venv docker lab-up" \
	  "integration bench-quick-lab" "lint sanity unit engine molecule bench-quick-apart"

lint: venv
	ruff check plugins lab tests bench
	yamllint -s .
	ansible-lint --offline

## sanity: ansible-test sanity on the built collection (scripts/sanity)
sanity: venv
	scripts/sanity

unit: venv
	pytest -q -n 2 tests/unit

engine: venv docker
	pytest -q tests/engine

integration: lab-up
	pytest -q -m lab tests/integration --durations=25

## drill-rebuild: only the drills of the lab suite that rebuild a lab host (python -m lab
## rebuild node3) and bring it back with site.yml: etcd's member replaced, GlusterFS's peer and
## brick, Patroni, Redis and the swarm. About 3 minutes on a converged lab.
drill-rebuild: lab-up
	pytest -q -m "lab and rebuild" tests/integration

molecule: lab-up
	scripts/molecule-each

bench: lab-up
	$(PY) bench/converge.py
	$(PY) bench/registry.py
	$(PY) bench/swarm.py
	$(PY) bench/proxy.py
	$(PY) bench/scale.py

## bench-quick: every benchmark once, in its quick mode where it has one (small sizes, one
## repetition, no time target), so that a change that breaks a benchmark fails make test,
## which runs the two parts in its two lanes (about 6 minutes in all).
bench-quick: bench-quick-lab bench-quick-apart

## bench-quick-lab: the benchmarks that need the main lab's own hosts and addresses, after the
## lab suite.
bench-quick-lab: lab-up
	scripts/timed bench-quick-lab $(PY) bench/registry.py --quick
	scripts/timed bench-quick-lab $(PY) bench/proxy.py --quick

## bench-quick-apart: the others, on a lab of their own (DOCKHAND_LAB=bench: its own hosts and
## inventory on the lab's network), removed afterwards, so that make test runs them beside the
## lab suite: bench/scale.py --quick, which builds labs of its own sizes, then on 3 fresh
## hosts bench/converge.py --quick (a fresh converge, then site.yml on top) and
## bench/swarm.py --quick, which forms the swarm again without the other roles' stacks, so it
## comes last.
bench-quick-apart: venv docker
	export DOCKHAND_LAB=bench; \
	  scripts/timed bench-quick-apart $(PY) bench/scale.py --quick \
	  && $(PY) -m lab down && $(PY) -m lab up --nodes 3 \
	  && scripts/timed bench-quick-apart $(PY) bench/converge.py --quick \
	  && scripts/timed bench-quick-apart $(PY) bench/swarm.py --quick; \
	  rc=$$?; $(PY) -m lab down; exit $$rc
