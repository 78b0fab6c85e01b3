"""Config values far outside any feasible run are refused up front, naming the field and the
bound: a basis spacing of 1e30 was a TypeError traceback building the network, and lots far
below the holdings (``tree_lot: 1e-300``, or ``initial_shares: 1e308`` with the default lot)
trained on inf and nan features and rewards (lucas_abm.guards.check_lots)."""
from __future__ import annotations

import pytest

from lucas_abm.errors import ConfigError
from orchestrator.cli import main
from orchestrator.config import load_config

SMOKE = "configs/smoke.yaml"


def test_basis_spacing_is_at_most_the_largest_grid():
    with pytest.raises(ConfigError, match=r"^actions.basis_spacing: must be an integer in \[0, "
                                          r"10,000\], got 10{30}$"):
        load_config(SMOKE, ["actions.basis_spacing=" + "1" + "0" * 30])
    assert load_config(SMOKE, ["actions.basis_spacing=10000"]).actions.basis_spacing == 10_000


@pytest.mark.parametrize("overrides, message", [
    (["market.initial_shares=1e308"],                 # the lot is 5e-312 of the holdings
     r"market.tree_lot: must be >= 1e\+296 \(1e-12 of market.initial_shares = 1e\+308: a smaller "
     r"lot vanishes in the round-off of holdings and income\), got 0.0005"),
    (["market.tree_lot=1e-300"],
     r"market.tree_lot: must be >= 1e-12 \(1e-12 of market.initial_shares = 1: "),
    (["market.bond_lot=1e-300"],
     r"market.bond_lot: must be >= 4.482e-14 \(1e-12 of the endowment's dividend income "
     r"s_0 y = 0.04482: "),
])
def test_lots_lost_in_round_off_are_refused(overrides, message):
    with pytest.raises(ConfigError, match="^" + message):
        load_config(SMOKE, overrides)


def test_the_economy_may_be_rescaled():
    """Shares, lots and the borrowing limit scaled together (1e100) are the same economy."""
    config = load_config(SMOKE, ["market.initial_shares=1e100", "market.tree_lot=5e96",
                                 "market.bond_lot=2e96", "market.borrowing_limit=1e98"])
    assert config.market.tree_lot == 5e96


@pytest.mark.parametrize("setting, line", [
    ("actions.basis_spacing=" + "1" + "0" * 30, "actions.basis_spacing: must be an integer in "),
    ("market.tree_lot=1e-300", "market.tree_lot: must be >= 1e-12 "),
])
def test_train_refuses_in_one_line_before_the_run_directory(tmp_path, capsys, setting, line):
    out = tmp_path / "run"
    assert main(["train", "--config", SMOKE, "--set", setting, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and line in err[0], captured.err
    assert not out.exists()
