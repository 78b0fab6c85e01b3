"""lucas-abm from Python: solve the thesis economy, step its market, train agents briefly.

    python examples/quickstart.py            # about half a minute on a laptop CPU

1. ``solve_equilibrium``: p* = beta/(1-beta) ybar and q* = beta for the constant dividend
   ybar = 0.01 exp(1.5), beta = 0.95, log utility (docs/model.md section 1).
2. A market of 100 scripted traders posting p*, q* with 5% noise, stepped by hand: the higher
   poster of each random pair buys one lot at the midpoint, and the invariants hold.
3. ``train``: 8 learning agents for a few episodes of the CPU configuration (far too short to
   converge: configs/thesis_cpu.yaml, one network per agent, needs 160-260 episodes; this only
   shows the call and the summary it returns).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import lucas_abm
from lucas_abm.market import invariant_violation

CPU_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "thesis_cpu.yaml"


def main(train_episodes: int = 3) -> dict:
    # 1. equilibrium prices
    ybar, beta = 0.01 * np.exp(1.5), 0.95
    prices = lucas_abm.solve_equilibrium(lucas_abm.make_dividend("constant", ybar=ybar),
                                         beta=beta, gamma=1.0)
    p_star, q_star = float(prices.tree_price(ybar)), float(prices.bond_price(ybar))
    print(f"equilibrium: p* = {p_star:.6f}, q* = {q_star:.4f}")

    # 2. a market you can step: traders post p*(1 + 0.05 Z), q*(1 + 0.05 Z)
    market = lucas_abm.LucasMarket(lucas_abm.MarketConfig(n_agents=100, horizon=20),
                                   lucas_abm.make_dividend("constant", ybar=ybar),
                                   lucas_abm.CRRAUtility(1.0), lucas_abm.make_mechanism("pairwise"),
                                   seed=0)
    rng = np.random.default_rng(0)
    observation = market.reset()                 # [N, 4]: shares, bonds, dividend, income
    volume, worst = 0.0, 0.0
    for _ in range(10):
        noise = 1 + 0.05 * rng.standard_normal((2, market.n_agents))
        step = market.step(p_star * noise[0], q_star * noise[1])
        volume += step.tree_volume
        worst = max(worst, invariant_violation(market, step))
    print(f"market: 10 periods, {volume:.0f} tree lots traded, mean settlement price "
          f"{step.tree_settlement_price:.4f}, largest invariant violation {worst:.1e}, "
          f"shares still {market.shares.sum():.6f} (N = {market.n_agents})")

    # 3. training (TensorFlow and Reverb start here)
    summary = lucas_abm.train(
        CPU_CONFIG, None, seed=0,
        overrides=["market.n_agents=8", "market.horizon=20", f"training.episodes={train_episodes}",
                   "training.eval_interval=1", "replay.capacity=200", "replay.min_size=20",
                   "learner.hidden=[16, 16]"])
    print(f"train: {summary['episodes']} episodes of {summary['n_agents']} agents, "
          f"median posted tree price {summary['tree_price']:.4f} (p* {p_star:.4f}), "
          f"converged: {summary['converged']}")
    return {"p_star": p_star, "q_star": q_star, "invariant_violation": worst, "summary": summary}


if __name__ == "__main__":
    main()
