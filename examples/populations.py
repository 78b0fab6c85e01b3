"""Heterogeneous traders from Python: a population, its exact equilibrium, a market that
reproduces it, and the granular-volatility sweep (docs/heterogeneity.md).

    python examples/populations.py            # about a minute on a laptop CPU

1. ``load_population``: two types, cautious (gamma 5, equal sizes) and bold (log utility,
   Pareto sizes, zeta = 1.5), 500 agents each (``examples/two_types.yaml``).
2. ``solve_population``: the Negishi equilibrium on the two-state chain y in {0.04, 0.05},
   P = [[0.9, 0.1], [0.2, 0.8]]: p(y), q(y), each type's tree share and bond position per unit
   of tree supply (the same in every state; docs/heterogeneity.md, "Heterogeneous risk
   aversion, complete markets").
3. ``SimulationConfig(population=...)``: the 1,000 agents trade through the call auction with
   the orders that implement their equilibrium policy, and the market's clearing prices and the
   types' holdings match the solver's to round-off along the path.
4. ``run_granular``: h = sqrt(sum_i (S_i / sum_j S_j)^2) and the tree's price volatility for
   equal and Zipf sizes at N = 10, 100, 1000 (the full sweep: ``lucas-abm granular``).
"""
from __future__ import annotations

from pathlib import Path

import lucas_abm

TWO_TYPES = Path(__file__).resolve().parent / "two_types.yaml"
STATES, TRANSITION = [0.04, 0.05], [[0.9, 0.1], [0.2, 0.8]]


def main() -> dict:
    # 1. the population: types, counts, seeded size draws
    population = lucas_abm.load_population(TWO_TYPES)
    print(f"population: {', '.join(f'{t.count} {t.name}' for t in population.types)}")

    # 2. the exact equilibrium (Negishi weights; the chain's first state is the initial one)
    eq = lucas_abm.solve_population(population, STATES, TRANSITION, beta=0.95)
    for y, p, q in zip(eq["dividend"], eq["tree_price"], eq["bond_price"]):
        print(f"equilibrium at y = {y}: p = {p:.6f}, q = {q:.6f}")
    for name, h in eq["holdings"].items():
        print(f"  {name}: tree share {h['shares'][0]:.6f}, bonds {h['bonds'][0]:+.6f} per unit of supply")

    # 3. a market of equilibrium traders: limit orders in the uniform-price call auction
    config = lucas_abm.SimulationConfig(population=str(TWO_TYPES), dividend="markov", states=STATES,
                                        transition=TRANSITION, mechanism="call-auction",
                                        policy="equilibrium", steps=50, seed=0)
    summary = lucas_abm.run_simulation(config, progress=False).summary
    print(f"market: {summary['agents']} agents x {summary['steps']} periods, largest price error "
          f"{max(summary['max_tree_price_error'], summary['max_bond_price_error']):.1e}, largest "
          f"holding error per unit of supply {summary['max_type_holding_error']:.1e}")

    # 4. granular volatility: h, and the price volatility over its formula (c/b) sigma h
    sweep = lucas_abm.run_granular(lucas_abm.GranularConfig(
        n_agents=(10, 100, 1000), size_laws={"equal": 1.0, "zipf": {"pareto": {"zeta": 1.0}}},
        size_draws=16, fit_min_n=10))
    for row in sweep["rows"]:
        print(f"granular: {row['size_law']:5s} N = {row['n_agents']:4d}: h = {row['h']:.4f}, price "
              f"volatility / theory {row['price_vol_over_theory']:.3f} (sampling error "
              f"{row['sampling_error']:.3f})")
    return {"equilibrium": eq, "simulation": summary, "granular": sweep}


if __name__ == "__main__":
    main()
