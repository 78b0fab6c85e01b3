"""The convergence rule and the final numbers of a run, from its evaluation rows.

Shared by the training driver (which writes ``summary.json``) and the report (which reads a
run, finished or not); kept free of TensorFlow so that ``lucas-abm report`` starts quickly.
"""
from __future__ import annotations


def episodes_to_converge(evaluations: list[dict]) -> int | None:
    """The episode of the first evaluation after which every evaluation met the criteria."""
    first = None
    for row in evaluations:
        if row.get("converged"):
            first = row["episode"] if first is None else first
        else:
            first = None
    return first


def final_numbers(last: dict, stochastic: bool) -> dict:
    """The summary's price, error and volume fields from the last evaluation row."""
    out = {
        "tree_price": last["tree_price_median"], "tree_price_star": last["tree_price_star"],
        "tree_price_rel_error": last["tree_price_rel_error"],
        "bond_price": last["bond_price_median"], "bond_price_star": last["bond_price_star"],
        "bond_price_rel_error": last["bond_price_rel_error"],
        "volume_per_agent_per_step": {"tree": last["tree_volume_per_agent_per_step"],
                                      "bond": last["bond_volume_per_agent_per_step"]},
        "tree_price_iqr": last.get("tree_price_iqr"), "bond_price_iqr": last.get("bond_price_iqr"),
    }
    if stochastic:
        out["tree_price_tracking_error"] = last.get("tree_price_tracking_error")
        out["bond_price_tracking_error"] = last.get("bond_price_tracking_error")
    return out
