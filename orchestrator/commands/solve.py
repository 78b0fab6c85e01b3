"""``lucas-abm solve``: equilibrium tree and bond prices of the Lucas economy (docs/model.md section 1).

Examples::

    lucas-abm solve --dividend constant --ybar 0.0448168907 --beta 0.95 --gamma 1 --json
    lucas-abm solve --dividend markov --states 0.04,0.05 --transition 0.8,0.2,0.3,0.7 --gamma 2
    lucas-abm solve --dividend mehra-prescott --beta 0.99 --gamma 10
    lucas-abm solve --population pop.yaml --dividend markov --states 0.04,0.05 --transition 0.8,0.2,0.3,0.7 --json

With ``--population FILE`` the economy is a population of agent types and the answer is its exact
heterogeneous equilibrium (docs/heterogeneity.md; :func:`run_population`).
"""
from __future__ import annotations

import json
import math

import numpy as np

from lucas_abm.dividend_params import (DEFAULT_ALPHA, DEFAULT_SIGMA, PARAMETERS, dividend_from_params,
                                       dividend_levels)
from lucas_abm.dividends import DIVIDEND_NAMES, THESIS_YBAR
from lucas_abm.errors import ConfigError, check_choice, check_range
from lucas_abm.solver import (GrowthEquilibrium, NotConvergedError, solve_equilibrium,
                              solve_numerics_default)
from lucas_abm.solver_limits import positive_float64s
from lucas_abm.utility import CRRAUtility

# which options each dividend process reads (any other process option is an error): the keys
# of economy.dividend_params in a config (lucas_abm.dividend_params.PARAMETERS), and --method
_PROCESS_OPTIONS = ("ybar", "mu", "sigma", "alpha", "states", "transition", "delta", "phi", "method")
#: The command's options each process uses (configs' markov initial_state is no option here).
_USES = {name: (set(keys) | ({"method"} if name == "log-ar1" else set())) & set(_PROCESS_OPTIONS)
         for name, keys in PARAMETERS.items()}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "solve", help="equilibrium tree price p(y) and bond price q(y) for a dividend process",
        description="Rational-expectations prices of the Lucas tree and the one-period bond "
                    "(representative agent consuming the dividend; docs/solver.md).")
    a = parser.add_argument
    a("--dividend", default="constant", metavar="NAME",
      help="dividend process: one of " + ", ".join(DIVIDEND_NAMES) + " (default constant)")
    a("--beta", default="0.95", help="subjective discount factor, in (0, 1) (default 0.95)")
    a("--gamma", default="1", help="CRRA relative risk aversion, > 0; 1 is log utility (default 1; "
                                   "with --population >= 0, the gamma of types that set none, 0 "
                                   "being linear utility)")
    a("--ybar", default=None,
      help=f"dividend level > 0 (default {THESIS_YBAR:.10g}, the thesis' 0.01 exp(1.5)): the constant "
           "dividend; the mean dividend that sets the default --mu of iid-lognormal and log-ar1; the "
           "current dividend level at which mehra-prescott tree prices are reported")
    a("--mu", default=None,
      help="iid-lognormal: mean of log y (default log(ybar) - sigma^2/2, so E[y] = ybar); "
           "log-ar1: intercept of log y' = mu + alpha log y + sigma eps (default makes the stationary "
           "E[y] = ybar); for both, the median log level m (mu, or mu/(1-alpha)) must lie in "
           "[-708, 709] so that e^m is a float64; mehra-prescott: mean dividend growth, > -1 "
           "(default 0.018)")
    a("--sigma", default=None,
      help=f"standard deviation of log y (iid-lognormal) or of the log-ar1 shock, >= 0 (default {DEFAULT_SIGMA})")
    a("--alpha", default=None,
      help=f"log-ar1 autocorrelation of log y, in (-1, 1) (default {DEFAULT_ALPHA})")
    a("--states", default=None,
      help="markov: comma-separated distinct dividend levels > 0, e.g. 0.04,0.05 (required for markov)")
    a("--transition", default=None,
      help="markov: the n x n transition matrix, row-major and comma-separated, entries in [0, 1], "
           "each row summing to 1; row i gives P(y' = states[j] | y = states[i]) (required for markov)")
    a("--delta", default=None,
      help="mehra-prescott: growth deviation, growth is 1+mu+delta or 1+mu-delta; >= 0 and < 1+mu "
           "(default 0.036)")
    a("--phi", default=None,
      help="mehra-prescott: probability that the growth regime persists, in [0, 1] (default 0.43)")
    a("--method", default=None,
      help="log-ar1 tree price: 'series' (exact sum, default) or 'quadrature' (fixed point on a grid "
           "in log y with Gauss-Hermite nodes)")
    a("--at", default=None,
      help="comma-separated dividend levels > 0 at which to report prices (default: ybar for constant; "
           "the chain's states for markov; exp(stationary mean of log y + k sd), k = -2..2, for "
           "iid-lognormal and log-ar1; not used by mehra-prescott)")
    a("--json", action="store_true", help="print one JSON object instead of a table")
    a("--population", default=None, metavar="FILE",
      help="YAML file with a 'population:' list of agent types (and an optional 'seed:' for their "
           "sizes): solve the exact heterogeneous equilibrium (docs/heterogeneity.md) with --dividend "
           "constant or markov; --beta and --gamma are the defaults of types that set none")
    a("--initial-state", default=None, metavar="INDEX",
      help="with --population: index of the chain's state in which endowments are valued, "
           "0 = the first state (default 0)")
    a("--periods", default=None, metavar="T",
      help="with --population and types with different beta: length of the path, an integer >= 1 "
           "(default 50)")
    parser.set_defaults(func=run)


def parse_list(field: str, raw: str) -> list[float]:
    """'1,2.5,3' -> [1.0, 2.5, 3.0], or ConfigError naming ``field``."""
    try:
        values = [float(v) for v in raw.split(",")]
    except (AttributeError, ValueError):
        raise ConfigError(field, "a comma-separated list of numbers, e.g. 0.04,0.05", raw) from None
    if not all(math.isfinite(v) for v in values):
        raise ConfigError(field, "a comma-separated list of finite numbers", raw)
    return values


def build_problem(args) -> tuple:
    """Validate every option and build (dividend process, beta, gamma, numerics, at) before any work."""
    name = check_choice("dividend", args.dividend, DIVIDEND_NAMES)
    beta = check_range("beta", args.beta, 0.0, 1.0)
    gamma = CRRAUtility(args.gamma).gamma
    for option in _PROCESS_OPTIONS:
        if getattr(args, option) is not None and option not in _USES[name]:
            used = ", ".join("--" + o for o in sorted(_USES[name]))
            raise ConfigError(option, f"left out with --dividend {name} (it uses {used})",
                              getattr(args, option))
    ybar = THESIS_YBAR if args.ybar is None else check_range("ybar", args.ybar, 0.0, None)
    params = {o: getattr(args, o) for o in PARAMETERS[name] if getattr(args, o) is not None}
    if name == "markov":
        if args.states is None:
            raise ConfigError("states", "given for --dividend markov (comma-separated levels > 0)")
        if args.transition is None:
            raise ConfigError("transition", "given for --dividend markov (row-major n x n probabilities)")
        states = parse_list("states", args.states)
        entries = parse_list("transition", args.transition)
        n = len(states)
        if len(entries) != n * n:
            raise ConfigError("transition", f"{n * n} comma-separated probabilities (row-major {n} x {n}, "
                              f"one row per state)", args.transition)
        params = {"states": states, "transition": [entries[i * n:(i + 1) * n] for i in range(n)]}
    elif name == "mehra-prescott":
        params["ybar"] = ybar  # the level y0 at which tree prices are reported
    dividend = dividend_from_params(name, params)  # the parametrisation configs and simulate use
    numerics = {}
    if args.method is not None:
        numerics["method"] = check_choice("method", args.method, ("series", "quadrature"))
    at = None if args.at is None else dividend_levels(parse_list("at", args.at), "at")
    if at is not None and name == "mehra-prescott":
        raise ConfigError("at", "left out with --dividend mehra-prescott (prices scale with --ybar)", args.at)
    if at is not None and name == "markov":
        if not all(np.isclose(a, dividend.states, rtol=1e-9, atol=0).any() for a in at):
            raise ConfigError("at", "states of the chain: " + ",".join(f"{s:g}" for s in dividend.states),
                              args.at)
    return dividend, beta, gamma, numerics, at, ybar


def _solve(dividend, beta: float, gamma: float, numerics: dict):
    """solve_equilibrium, with a method that cannot converge named as --method: the solver's
    message names its numerics (series_tol, tol, max_iter), which the command does not expose."""
    try:
        return solve_equilibrium(dividend, beta, gamma, **numerics)
    except NotConvergedError as error:
        method = numerics.get("method", "series")
        why = (error.detail or "").split("; or use")[0]
        if method == "quadrature":
            raise ConfigError("method", "'series' for this process and beta", method, detail=why) from None
        tol = solve_numerics_default("tol")
        if tol * (1.0 - beta) / beta < np.finfo(float).eps:   # the quadrature cannot help either
            raise ConfigError("alpha", f"further from 1 at beta = {beta:.10g}", dividend.alpha,
                              detail=why + ", and the quadrature cannot resolve its tolerance at "
                                           "a beta this close to 1") from None
        raise ConfigError("method", "'quadrature' for this process and beta", method, detail=why) from None


def run(args) -> int:
    if any(getattr(args, o, None) is not None for o in ("population", "initial_state", "periods")):
        return run_population(args)
    dividend, beta, gamma, numerics, at, ybar = build_problem(args)
    eq = _solve(dividend, beta, gamma, numerics)
    result = {"dividend_process": dividend.name, "beta": beta, "gamma": gamma}
    result.update({k: v for k, v in vars(dividend).items()
                   if not k.startswith("_") and k not in ("y0", "initial_state")})
    if isinstance(eq, GrowthEquilibrium):
        with np.errstate(over="ignore"):
            finite = np.all(np.isfinite(eq.price_dividend_ratio * ybar))
        if not finite:
            raise ConfigError("ybar", "such that the tree prices (p/y) ybar are float64s", ybar,
                              detail=f"p/y = {eq.price_dividend_ratio.max():.6g}")
        returns = np.concatenate([eq.equity_return_by_state, eq.risk_free_rate_by_state])
        if not (positive_float64s(eq.bond_prices, 1.0 / eq.bond_prices).all()
                and np.all(np.isfinite(returns))):   # growth near 1e308: q = 1e-308, R = inf
            raise ConfigError("mu", "small enough that the bond prices and returns are float64s "
                              "(growth 1 + mu +- delta)", dividend.mu,
                              detail=f"q = {', '.join(f'{v:.3g}' for v in eq.bond_prices)}")
        result.update({
            "dividend": ybar,
            "dividend_growth": eq.growth.tolist(),
            "stationary_distribution": eq.stationary_distribution.tolist(),
            "price_dividend_ratio": eq.price_dividend_ratio.tolist(),
            "tree_price": (eq.price_dividend_ratio * ybar).tolist(),
            "bond_price": eq.bond_prices.tolist(),
            "equity_return_by_state": eq.equity_return_by_state.tolist(),
            "risk_free_rate_by_state": eq.risk_free_rate_by_state.tolist(),
            "equity_return": eq.equity_return,
            "risk_free_rate": eq.risk_free_rate,
            "equity_premium": eq.equity_premium,
        })
    else:
        scalar = at is None and dividend.name == "constant"
        given = at is not None
        if at is None:
            at = _default_levels(dividend, ybar)
        at = np.asarray(at, dtype=float)
        level_ok = np.isfinite(at) & (at > 0)   # a default level e^(m -+ 2 s.d.) may round to 0
        p, q = np.full(at.shape, np.nan), np.full(at.shape, np.nan)
        with np.errstate(all="ignore"):
            p[level_ok], q[level_ok] = eq.tree_price(at[level_ok]), eq.bond_price(at[level_ok])
        _check_printable(at, p, q, "at" if given else "gamma", args.at if given else gamma,
                         getattr(dividend, "sigma", None))
        columns = {"dividend": at, "tree_price": p, "bond_price": q,
                   "price_dividend_ratio": p / at, "risk_free_rate": 1.0 / q - 1.0}
        result.update({k: (float(v[0]) if scalar else v.tolist()) for k, v in columns.items()})
    if getattr(args, "json", False):
        print(json.dumps(result))
    else:
        print(format_table(result))
    return 0


def _check_printable(y: np.ndarray, p: np.ndarray, q: np.ndarray, field: str, value,
                     sigma: float | None) -> None:
    """ConfigError when a price to print is not a positive float64 (it exceeds 1.8e308 or
    rounds to 0: the printed table and JSON would hold inf, 0 or nan), naming ``at`` for levels
    the user gave, else ``sigma`` when the level itself is not a float64, else ``gamma``."""
    with np.errstate(divide="ignore"):
        bad = ~positive_float64s(p, q, 1.0 / q)
    if bad.any():
        i = int(np.argmax(bad))
        detail = f"at y = {y[i]:.6g}: p = {p[i]:.6g}, q = {q[i]:.6g}"
        if field == "at":
            raise ConfigError("at", "dividend levels at which the prices are positive float64s",
                              value, detail=detail)
        if not (np.isfinite(y[i]) and y[i] > 0):   # the level itself: median x exp(+-2 sigma)
            raise ConfigError("sigma", "small enough that the reported dividend levels (median "
                              "x exp(+-2 s.d.)) are positive float64s", sigma, detail=detail)
        raise ConfigError("gamma", "small enough that the prices at the reported dividend levels "
                          "(median x exp(+-2 s.d.)) are positive float64s", value, detail=detail)


def _default_levels(dividend, ybar: float) -> np.ndarray:
    name = dividend.name
    if name == "constant":
        return np.array([dividend.ybar])
    if name == "markov":
        return np.asarray(dividend.states)
    if name == "iid-lognormal":
        mean, sd = dividend.mu, dividend.sigma
    else:
        mean, sd = dividend.stationary_mean_log, dividend.stationary_sd_log
    return np.exp(mean + sd * np.arange(-2.0, 3.0)) if sd > 0 else np.array([math.exp(mean)])


def format_table(result: dict) -> str:
    """A readable, aligned report of :func:`run`'s result."""
    params = ", ".join(f"{k} = {_fmt_parameter(v)}" for k, v in result.items()
                       if k not in ("dividend_process",) and not isinstance(v, list)
                       and k not in ("dividend", "tree_price", "bond_price", "price_dividend_ratio",
                                     "risk_free_rate", "equity_return", "equity_premium"))
    lines = [f"Lucas-tree equilibrium, dividend process {result['dividend_process']}: {params}"]
    if "dividend_growth" in result:
        header = ("regime", "growth", "prob", "p/y", "tree_price", "bond_price", "E[R^e]-1", "R_f-1")
        cols = [["high", "low"], result["dividend_growth"], result["stationary_distribution"],
                result["price_dividend_ratio"], result["tree_price"], result["bond_price"],
                result["equity_return_by_state"], result["risk_free_rate_by_state"]]
        rows = list(zip(*cols))
        lines.append(f"(tree prices at dividend level {_fmt(result['dividend'])})")
        lines += _aligned(header, rows)
        lines.append(f"mean equity return {result['equity_return']:.4%}, mean risk-free rate "
                     f"{result['risk_free_rate']:.4%}, equity premium {result['equity_premium']:.4%} "
                     "(per period, stationary distribution)")
        return "\n".join(lines)
    header = ("dividend", "tree_price", "bond_price", "p/y", "R_f-1")
    keys = ("dividend", "tree_price", "bond_price", "price_dividend_ratio", "risk_free_rate")
    cols = [result[k] if isinstance(result[k], list) else [result[k]] for k in keys]
    lines += _aligned(header, list(zip(*cols)))
    return "\n".join(lines)


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _fmt_parameter(v) -> str:
    """A parameter in the header: 6 significant digits unless that changes it (beta = 0.9999999
    printed as 1), then 10."""
    if isinstance(v, float) and float(f"{v:.6g}") != v:
        return f"{v:.10g}"
    return _fmt(v)


def _aligned(header, rows) -> list[str]:
    cells = [list(header)] + [[_fmt(v) if isinstance(v, float) else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]


def run_population(args) -> int:
    """``solve --population FILE``: the exact equilibrium of a heterogeneous population."""
    from lucas_abm.equilibrium import format_population, solve_population
    from lucas_abm.population import load_population

    if args.population is None:
        raise ConfigError("population", "given with --initial-state or --periods (a population file)")
    population = load_population(args.population)
    name = check_choice("dividend", args.dividend, ("constant", "markov"))
    uses = {"constant": ("ybar",), "markov": ("states", "transition")}[name]
    for option in _PROCESS_OPTIONS + ("at",):
        if getattr(args, option) is not None and option not in uses:
            raise ConfigError(option, f"left out with --population and --dividend {name} (it uses "
                              + ", ".join("--" + o for o in uses) + ")", getattr(args, option))
    beta = check_range("beta", args.beta, 0.0, 1.0)
    gamma = check_range("gamma", args.gamma, 0.0, None, low_open=False)
    initial_state = _count("initial_state", args.initial_state, 0, 0)
    periods = _count("periods", args.periods, 50, 1)
    if name == "constant":
        states = [THESIS_YBAR if args.ybar is None else check_range("ybar", args.ybar, 0.0, None)]
        rows = [[1.0]]
    else:
        for option in ("states", "transition"):
            if getattr(args, option) is None:
                raise ConfigError(option, "given for --dividend markov")
        states = parse_list("states", args.states)
        entries = parse_list("transition", args.transition)
        n = len(states)
        if len(entries) != n * n:
            raise ConfigError("transition", f"{n * n} comma-separated probabilities (row-major {n} x {n})",
                              args.transition)
        rows = [entries[i * n:(i + 1) * n] for i in range(n)]
    with np.errstate(all="ignore"):
        result = solve_population(population, states, rows, beta=beta, gamma=gamma,
                                  initial_state=initial_state, periods=periods)
    bad = _first_non_finite(result)
    if bad is not None:   # ybar 1e308: p = beta/(1-beta) ybar = inf, and shares inf/inf = nan
        field, value = ("ybar", states[0]) if name == "constant" else ("states", args.states)
        raise ConfigError(field, "dividend levels at which the equilibrium's prices and holdings "
                          "are float64s", value, detail=f"{bad[0]} = {bad[1]}")
    print(json.dumps(result) if args.json else format_population(result))
    return 0


def _first_non_finite(node, path: str = ""):
    """(path, value) of the first float in a nested result that is inf or nan, else None."""
    if isinstance(node, float):
        return None if math.isfinite(node) else (path, node)
    items = node.items() if isinstance(node, dict) else (
        enumerate(node) if isinstance(node, (list, tuple)) else ())
    for key, value in items:
        found = _first_non_finite(value, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
        if found is not None:
            return found[0].lstrip("."), found[1]
    return None


def _count(field: str, raw, default: int, low: int) -> int:
    """An integer option >= ``low`` (``default`` when not given), or ConfigError naming ``field``."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(field, f"an integer >= {low}", raw) from None
    if value < low:
        raise ConfigError(field, f"an integer >= {low}", raw)
    return value
