"""A pytest plugin used only by ``make mutation`` (setup.cfg [mutmut] pytest_add_cli_args).

mutmut forks one process per mutant from a fork server that has collected the tests. The
numba kernels compile at first use (about a second, not cached on disk), so without this
every mutant would pay for the compilation, and mutants whose tests take milliseconds would
exceed their CPU-time limit. Compiling once at configure time, in the fork server, lets every
forked mutant inherit the compiled kernels (lucas_abm/kernels.py is not mutated).

It also leaves out of the mutation runs the few tests that take tens of seconds each under
mutmut's tracing (:data:`SLOW`); they stay in the unit suite. docs/testing.md lists them.
"""
from __future__ import annotations

SLOW = (
    # 150 hypothesis scenarios, kernel against numpy: the hand-computed cases on both
    # backends (test_market.py, test_mechanisms.py) pin the same rules per mutant
    "tests/test_kernels.py::test_kernel_equals_numpy_path",
    # N single-agent Keras updates against the ensemble: test_train_step_loss_is_the_n_step_
    # double_dqn_huber_loss_and_target_is_polyak checks the same update by hand
    "tests/test_ensemble_equivalence.py::test_one_train_step_equals_n_separate_single_agent_updates",
    "tests/test_ensemble_equivalence.py::test_shared_mode_trains_one_network_per_group_on_its_agents_pooled_data[2]",
    # make mutation-new: the actor-critic tests of 5-10 s each (N single-agent learners, or
    # N TF-Agents agents, or 200 updates of a bandit); the losses-in-numpy, policy-delay, shared-mode,
    # one-agent's-rewards, rules-interface and checkpoint tests check the same updates
    "tests/test_td3_ensemble.py::test_ensemble_updates_equal_n_separate_single_agent_updates",
    "tests/test_td3_ensemble.py::test_ensemble_update_equals_n_separate_tf_agents_td3_agents",
    "tests/test_td3_ensemble.py::test_each_agent_learns_its_own_optimum_of_a_quadratic_bandit",
    "tests/test_sac_ensemble.py::test_ensemble_updates_equal_n_separate_single_agent_updates",
)


def pytest_configure(config) -> None:
    from lucas_abm import kernels

    if kernels.AVAILABLE:
        kernels.warm_up()


def pytest_collection_modifyitems(session, config, items) -> None:
    # node ids start at the rootdir pytest picked: "tests/...", "mutants/tests/..." or
    # "runs/mutation-new/mutants/tests/..." (make mutation-new)
    slow = [item for item in items if item.nodeid[item.nodeid.find("tests/"):] in SLOW]
    if slow:
        items[:] = [item for item in items if item not in slow]
        config.hook.pytest_deselected(items=slow)
