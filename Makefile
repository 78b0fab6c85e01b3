# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    -- the main job (see README)
#   make test   -- the whole test suite
# Both create (or reuse) the virtual environment in .venv.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed.stamp
# benchmarks/dqn_at_scale.py's JAX learner, held to the TensorFlow one by the tests
JAX_VENV  := .venv-jax
JAX_STAMP := $(JAX_VENV)/.installed.stamp

.PHONY: run test venv jax-venv bench clean mutation mutation-new

venv: $(STAMP)

jax-venv: $(JAX_STAMP)

$(JAX_STAMP): benchmarks/requirements-jax.txt
	test -x $(JAX_VENV)/bin/python || $(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install -q -r benchmarks/requirements-jax.txt
	touch $(JAX_STAMP)

$(STAMP): setup.py pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -c "import reverb, tf_agents, tensorflow"  # fails loudly if the pinned stack does not load
	touch $(STAMP)

# The main job: solve the thesis economy, run the market with scripted agents, train the
# learning agents on configs/thesis_cpu.yaml (one network per agent, the thesis' design;
# continues an interrupted run) and write the report.
run: $(STAMP)
	$(VENV)/bin/lucas-abm solve --dividend constant --ybar 0.0448168907 --beta 0.95 --gamma 1
	$(VENV)/bin/lucas-abm simulate --agents 1200 --steps 300 --mechanism pairwise --policy noisy-equilibrium --seed 0 --out runs/simulate
	$(VENV)/bin/lucas-abm train --config configs/thesis_cpu.yaml --seed 0 --out runs/thesis_cpu --resume
	$(VENV)/bin/lucas-abm report runs/thesis_cpu

test: $(STAMP) $(JAX_STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/market_step.py
	$(PY) benchmarks/learner_throughput.py
	$(PY) benchmarks/ac_throughput.py --algorithms td3,sac

# Mutation testing of the economy's core (setup.cfg [mutmut]: which modules, which fast tests).
# Not in CI: hours on two cores. Kill rates and every survivor explained: docs/testing.md.
mutation: $(STAMP)
	$(PY) -m pip install -q -e ".[mutation]"
	nice -n 19 $(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	$(VENV)/bin/mutmut results

# The heterogeneous, actor-critic and distributed modules (setup.cfg [mutmut-new]) with their
# fast tests, in runs/mutation-new/ (its own mutants/ and cache). MUTANTS="name-or-glob ..."
# runs only those mutants, e.g. MUTANTS="replay.variables*" or a sample from
# `python tests/mutmut_workdir.py sample runs/mutation-new 10 14` (docs/testing.md).
mutation-new: $(STAMP)
	$(PY) -m pip install -q -e ".[mutation]"
	$(PY) tests/mutmut_workdir.py prepare runs/mutation-new mutmut-new
	cd runs/mutation-new && nice -n 19 $(CURDIR)/$(VENV)/bin/mutmut run --max-children 2 $(MUTANTS)
	cd runs/mutation-new && $(CURDIR)/$(VENV)/bin/mutmut results

clean:
	rm -rf $(VENV) $(JAX_VENV) runs build *.egg-info
