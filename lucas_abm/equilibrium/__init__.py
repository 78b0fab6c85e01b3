"""Exact equilibria of heterogeneous populations (docs/model.md section 4.1; docs/heterogeneity.md).

- :mod:`~lucas_abm.equilibrium.negishi`         heterogeneous risk aversion, complete markets
- :mod:`~lucas_abm.equilibrium.harrison_kreps`  heterogeneous beliefs, risk neutral, no short sales
- :mod:`~lucas_abm.equilibrium.patience`        heterogeneous patience, log utility, sure dividend
- :mod:`~lucas_abm.equilibrium.dispatch`        which of them a population has; JSON-ready results

The representative-agent solver stays in :mod:`lucas_abm.solver`.
"""
from lucas_abm.equilibrium.dispatch import format_population, solve_population
from lucas_abm.equilibrium.harrison_kreps import HarrisonKrepsEquilibrium, buy_and_hold, solve_harrison_kreps
from lucas_abm.equilibrium.negishi import NegishiEquilibrium, agent_portfolios, sharing_rule, solve_negishi
from lucas_abm.equilibrium.patience import PatiencePath, solve_patience

__all__ = ["format_population", "solve_population", "HarrisonKrepsEquilibrium", "buy_and_hold",
           "solve_harrison_kreps", "NegishiEquilibrium", "agent_portfolios", "sharing_rule", "solve_negishi",
           "PatiencePath", "solve_patience"]
