"""``lucas-abm report``: figures (thesis figs 8-11, convergence) and a markdown summary of a run."""
from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.commands.arguments import output_dir
from orchestrator.provenance import write_provenance
from orchestrator.report import ReportRequest, make_report
from orchestrator.run_data import DEFAULT_PANELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="replication figures and a markdown summary of a training run",
        description="Read a run directory written by 'lucas-abm train --out DIR' and write "
                    "posted_tree_prices.png, holdings.png, posted_bond_prices.png, "
                    "traded_volumes.png (the thesis' figures 8-11, for chosen evaluation "
                    "episodes), convergence.png (across training) and report.md.")
    p.add_argument("run_dir", metavar="DIR", type=Path,
                   help="run directory (config.yaml, evaluation.jsonl, episodes/eval-*.npz; "
                        "summary.json once training has finished)")
    p.add_argument("--out", type=output_dir, default=None, metavar="OUTDIR",
                   help="where to write the figures and report.md (default: DIR/report)")
    p.add_argument("--episodes", default=None, metavar="E1,E2,...",
                   help="evaluation episodes to draw in figures 8-11, comma-separated (default: "
                        f"{DEFAULT_PANELS} spread from the first to the last evaluation)")
    p.add_argument("--agents", type=int, default=None, metavar="K",
                   help="draw the first K of the sampled agents, K in [1, sampled] (default: all "
                        "sampled, usually 10)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    request = ReportRequest(run_dir=args.run_dir, out_dir=args.out,
                            episodes=ReportRequest.parse_episodes(args.episodes), agents=args.agents)
    written = make_report(request)
    write_provenance(written["report.md"].parent,
                     {"run_dir": str(args.run_dir), "out": None if args.out is None else str(args.out),
                      "episodes": args.episodes, "agents": args.agents})
    for path in written.values():
        print(path)
    return 0
