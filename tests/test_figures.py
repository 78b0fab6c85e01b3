"""The thesis figures 8-11 (orchestrator/figures.py): compared panels share their y-axis,
volume axes start at 0, and a panel that is flat because nothing traded says so; the
simulate figure's volume is in lots per agent per step from 0."""
from __future__ import annotations

import numpy as np
import pytest

from lucas_abm.simulate import SimulationConfig, plot_simulation, run_simulation
from orchestrator import figures
from orchestrator.run_data import EvaluationEpisode

T, K, LOT = 6, 3, 0.0005
P_STAR = 0.95 / 0.05 * 0.01 * np.exp(1.5)


def episode(number: int, trades: bool, offset: float) -> EvaluationEpisode:
    rng = np.random.default_rng(number)
    tree_trade = LOT * rng.integers(-1, 2, size=(T, K)) * trades
    return EvaluationEpisode(
        episode=number, agents=np.arange(K), tree_price=np.full((T, K), P_STAR + offset),
        bond_price=np.full((T, K), 0.95), shares=1.0 + np.vstack([np.zeros((1, K)), np.cumsum(tree_trade, 0)]),
        bonds=np.zeros((T + 1, K)), tree_trade=tree_trade, bond_trade=np.zeros((T, K)),
        dividend=np.full(T, 0.0448), tree_price_star=np.full(T, P_STAR), bond_price_star=np.full(T, 0.95),
        tree_lot=LOT, bond_lot=0.0002)


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions save, kept open for inspection."""
    figs = []

    def keep(plt, fig, path, *args, **kw):
        figs.append(fig)
        fig.savefig(path, dpi=40)
        return path
    monkeypatch.setattr(figures, "_save", keep)
    yield figs
    import matplotlib.pyplot as plt
    for fig in figs:
        plt.close(fig)


def texts(ax) -> str:
    return " ".join(t.get_text() for t in ax.texts)


def test_compared_panels_share_y_and_volumes_start_at_zero(tmp_path, captured):
    eps = [episode(10, True, 0.3), episode(20, False, 0.0)]   # the second: converged, no trade
    figures.plot_posted_prices(eps, "tree", tmp_path / "p.png")
    figures.plot_holdings(eps, 1.0, tmp_path / "h.png")
    figures.plot_traded_volumes(eps, tmp_path / "v.png")
    prices, holdings, volumes = captured
    for fig in (prices, holdings, volumes):
        first, second = [ax for ax in fig.axes if ax.get_visible()][:2]
        assert first.get_ylim() == second.get_ylim()          # one scale across the panels
    # the posted-price range covers both episodes (p* + 0.3 in the first, p* in the second)
    low, high = prices.axes[0].get_ylim()
    assert low < P_STAR and high > P_STAR + 0.3
    # cumulative volume axis from exactly 0 up to the largest total (plus 8%)
    low, high = volumes.axes[0].get_ylim()
    lots = np.abs(eps[0].tree_trade).sum() / LOT
    assert low == 0.0 and high == pytest.approx(1.08 * lots)
    # the flat panels say why
    assert "no trade" in texts(holdings.axes[1]) and "no trade" not in texts(holdings.axes[0])
    assert "no trade" in texts(volumes.axes[1]) and "no trade" not in texts(volumes.axes[0])


def test_simulate_figure_volume_per_agent_from_zero(tmp_path):
    result = run_simulation(SimulationConfig(agents=20, steps=8, policy="random", seed=1))
    path = tmp_path / "prices.png"
    plot_simulation(result, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # lots per agent per step: at most 1/2 (N/2 pairs), here every pair trades
    assert result.series.tree_volume.max() == 0.5
    assert result.summary["tree_volume_per_agent_per_step"] == 0.5


def test_titles_say_whose_networks_post_the_plotted_prices(tmp_path, captured):
    assert figures.networks_label({"weight_sharing": "independent"}) == "each agent its own network"
    assert figures.networks_label({"weight_sharing": "shared", "agent_types": 1}) == "one network shared by all agents"
    assert figures.networks_label({"weight_sharing": "shared", "agent_types": 2}) == "one network per agent type (2 types)"
    eps = [episode(10, True, 0.3)]
    figures.plot_posted_prices(eps, "bond", tmp_path / "p.png", "each agent its own network")
    figures.plot_holdings(eps, 1.0, tmp_path / "h.png")
    prices, holdings = captured
    assert prices._suptitle.get_text() == ("Posted bond prices of 3 sampled agents (each agent its own "
                                           "network) vs the Lucas equilibrium q*")
    assert holdings._suptitle.get_text().startswith("Tree holdings of 3 sampled agents; ")
