"""A user's own mechanism, defined in the user's own file outside the package, simulated and
trained on by import path (``module:ClassName``), exactly as the README shows; its parameters
checked against its constructor before TensorFlow loads; the compiled pairwise kernel never
runs in place of a user's ``propose``."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lucas_abm.dividends import ConstantDividend
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import PairwiseMatching, Proposal, build_mechanism
from lucas_abm.utility import CRRAUtility

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
P_STAR = 0.95 / 0.05 * 0.01 * math.exp(1.5)

# The README's example, verbatim in spirit: neighbours 2i, 2i+1 meet; the higher poster buys
# one lot at the seller's price plus `weight` of the gap between the two posted prices.
USER_FILE = textwrap.dedent('''
    import numpy as np
    from lucas_abm.mechanisms import Mechanism, PairwiseMatching, Proposal

    class NeighbourMatching(Mechanism):
        """Agents 2i and 2i+1 meet; the higher poster buys at p_lo + weight (p_hi - p_lo)."""
        name = "neighbours"

        def __init__(self, weight: float = 0.0):
            self.weight = float(weight)

        def propose(self, posted, active, rng):
            first = np.arange(0, posted.size - 1, 2)
            second = first + 1
            p1, p2 = posted[first], posted[second]     # NaN (invalid price) compares False
            buy1, buy2 = p1 > p2, p2 > p1
            buyer = np.concatenate((first[buy1], second[buy2]))
            seller = np.concatenate((second[buy1], first[buy2]))
            return Proposal(buyer, seller, posted[seller] + self.weight * (posted[buyer] - posted[seller]))

    class CopiedPairwise(PairwiseMatching):
        """A copy that keeps the library's kernel flag: its own propose must still run."""
        compiled_kernel = "pairwise"
        verified_proposals = True

        def propose(self, posted, active, rng):
            return Proposal.empty()
''')


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("user_project")
    (d / "my_mechanisms.py").write_text(USER_FILE)
    return d


def lucas_abm(cwd: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = ""  # the user's module is found through the working directory only
    return subprocess.run([str(BIN / "lucas-abm"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_simulate_a_mechanism_from_the_users_file(user_dir):
    n, steps, weight = 200, 20, 0.25
    r = lucas_abm(user_dir, "simulate", "--mechanism", "my_mechanisms:NeighbourMatching",
                  "--mechanism-param", f"weight={weight}", "--policy", "random",
                  "--agents", str(n), "--steps", str(steps), "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["backend"] == "numpy" and s["mechanism"] == "my_mechanisms:NeighbourMatching"
    # Posted p* U, U ~ U[0.5, 1.5] i.i.d.: every neighbour pair trades one lot (1/2 lot per
    # agent), at p* (E[min] + w (E[max] - E[min])) = p* (5/6 + w/3) on average.
    assert s["tree_volume_per_agent_per_step"] == 0.5
    se = 0.3 * P_STAR / math.sqrt(n / 2 * steps)          # per-trade sd < 0.3 p*
    assert abs(s["mean_tree_settlement_price"] - P_STAR * (5 / 6 + weight / 3)) < 5 * se
    assert s["max_invariant_violation"] < 1e-15


def test_train_on_a_mechanism_from_the_users_file(user_dir):
    out = user_dir / "run"
    r = lucas_abm(user_dir, "train", "--config", str(ROOT / "configs/thesis_cpu.yaml"),
                  "--out", str(out), "--no-progress",
                  "--set", "economy.mechanism=my_mechanisms:NeighbourMatching",
                  "--set", "economy.mechanism_params={weight: 0.5}",
                  "--set", "market.backend=numpy", "--set", "market.n_agents=8",
                  "--set", "market.horizon=12", "--set", "training.episodes=2",
                  "--set", "training.eval_interval=2", "--set", "training.checkpoint_interval=2",
                  "--set", "replay.capacity=40", "--set", "replay.min_size=20")
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["episodes"] == 2
    assert "NeighbourMatching" in (out / "config.yaml").read_text()
    # start-up noise of TensorFlow and Reverb's per-checkpoint lines stay off the terminal
    for noise in ("Unable to register", "[reverb/cc/", "oneDNN", "cpu_feature_guard"):
        assert noise not in r.stderr, r.stderr


def test_wrong_parameter_is_one_line_before_tensorflow(user_dir):
    code = textwrap.dedent(f'''
        import sys
        from orchestrator.cli import main
        rc = main(["train", "--config", {str(ROOT / "configs/thesis_cpu.yaml")!r}, "--out", "never",
                   "--set", "economy.mechanism=my_mechanisms:NeighbourMatching",
                   "--set", "economy.mechanism_params={{wieght: 1}}"])   # replaces pairwise-tick's ticks
        assert "tensorflow" not in sys.modules
        sys.exit(rc)
    ''')
    r = subprocess.run([sys.executable, "-c", code], cwd=user_dir, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("lucas-abm: error: economy.mechanism_params.wieght: must be a "
                                "parameter of NeighbourMatching (weight), got 1")
    assert not (user_dir / "never").exists()


@pytest.mark.parametrize("spec, field", [
    ("no_such_module:Thing", "economy.mechanism"),
    ("my_mechanisms:Missing", "economy.mechanism"),
    ("my_mechanisms:np", "economy.mechanism"),          # not a Mechanism subclass
    ("walrasian", "economy.mechanism"),
])
def test_bad_import_paths_name_the_key(user_dir, monkeypatch, spec, field):
    from orchestrator.config import load_config
    monkeypatch.chdir(user_dir)
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / "configs/thesis_cpu.yaml", [f"economy.mechanism={spec}"])
    assert str(err.value).startswith(field + ": must be")


def test_kernel_never_replaces_a_users_propose(user_dir, monkeypatch):
    """Only the package's own pairwise classes run compiled; a subclass overriding propose and
    a user's copy that declares the kernel flag both run their own propose (here: no trade)."""
    monkeypatch.chdir(user_dir)
    config = MarketConfig(n_agents=40, horizon=5)
    rng = np.random.default_rng(0)
    prices = P_STAR * rng.uniform(0.5, 1.5, size=40)

    class NoTrade(PairwiseMatching):
        def propose(self, posted, active, rng):
            return Proposal.empty()

    for mechanism in (NoTrade(), build_mechanism("my_mechanisms:CopiedPairwise")):
        market = LucasMarket(config, ConstantDividend(), CRRAUtility(1.0), mechanism, seed=0)
        assert market.backend == "numpy"
        market.reset()
        assert market.step(prices, np.full(40, 0.95)).tree_volume == 0
    library = LucasMarket(config, ConstantDividend(), CRRAUtility(1.0), PairwiseMatching(), seed=0)
    numpy_run = LucasMarket(MarketConfig(n_agents=40, horizon=5, backend="numpy"), ConstantDividend(),
                            CRRAUtility(1.0), PairwiseMatching(), seed=0)
    assert numpy_run.backend == "numpy"
    library.reset(), numpy_run.reset()
    a, b = library.step(prices, np.full(40, 0.95)), numpy_run.step(prices, np.full(40, 0.95))
    assert a.tree_volume == b.tree_volume == 20
    np.testing.assert_array_equal(a.tree_trade, b.tree_trade)
