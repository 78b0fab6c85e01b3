"""``lucas-abm train``: train the agents' learners on the market (see orchestrator.local)."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from lucas_abm.errors import ConfigError
from orchestrator.commands.arguments import output_dir, positive_int, positive_seconds
from orchestrator.config import PEER_TIMEOUT_S, load_config
from orchestrator.provenance import write_provenance
from orchestrator.resume import check_run_directory


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train per-agent deep RL learners (DQN, TD3 or SAC) on the Lucas-tree market",
        description="Train N agents' networks (one batched ensemble; learner.algorithm: dqn, td3 "
                    "or sac; or adaptive: valuers who estimate the dividend law and bond prices, "
                    "no networks) on the market, with "
                    "Reverb replay, greedy evaluations, checkpoints and TensorBoard logs. Writes "
                    "DIR/summary.json, DIR/metrics.csv|jsonl (training episodes), "
                    "DIR/evaluation.csv|jsonl, DIR/episodes/*.npz (sampled agents), "
                    "DIR/tensorboard/ and DIR/checkpoints/.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", required=True, metavar="FILE",
                   help="YAML config (see configs/: thesis_cpu.yaml (one network per agent), "
                        "thesis_cpu_shared.yaml, thesis_cpu_ac.yaml, thesis.yaml, iid_lognormal_cpu.yaml, "
                        "log_ar1_cpu.yaml, smoke.yaml); sections economy, market, actions, learner, exploration, "
                        "replay, training")
    p.add_argument("--seed", type=int, default=None,
                   help="override training.seed (integer >= 0): network init, exploration, market draws")
    p.add_argument("--out", type=output_dir, default=Path("runs/train"), metavar="DIR",
                   help="output directory: new, or one that holds no run (no config.yaml), "
                        "unless --resume")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in DIR from its latest checkpoint (same config required); a "
                        "DIR without checkpoints starts the run, so one command both starts and "
                        "continues it (make run)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set learner.weight_sharing=shared "
                        "--set training.episodes=200, or a population type's key, --set population.0.gamma=2 "
                        "(repeatable; VALUE parsed as YAML)")
    p.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    p.add_argument("--stop-after", type=positive_int, default=None, metavar="EPISODES",
                   help="end this invocation after this many episodes (a checkpoint is written); "
                        "continue later with --resume")
    p.add_argument("--actors", type=int, default=0, metavar="K",
                   help="0: every role in this process (embedded Reverb server); K >= 1: the "
                        "multi-process layout on this machine: a replay server, the learner(s), K "
                        "actors and an evaluator as separate processes on loopback (docs/distributed.md)")
    p.add_argument("--shards", type=int, default=1, metavar="S",
                   help="with --actors: agent-sharded learners, each owning the networks of N/S "
                        "agents, in [1, N] (default 1)")
    p.add_argument("--peer-timeout", type=positive_seconds, default=None, metavar="SECONDS",
                   help="with --actors: longest wait of a role for its peers before it exits with a "
                        f"message (the launcher then restarts it; default {PEER_TIMEOUT_S:g})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides, args.seed)   # all validation before any work
    if args.actors < 0:
        raise ConfigError("--actors", "an integer >= 0 (0: one process)", args.actors)
    if args.actors:
        return run_processes(args, config)
    if args.shards != 1:
        raise ConfigError("--shards", "1 without --actors (sharded learners are processes)", args.shards)
    if args.peer_timeout is not None:
        raise ConfigError("--peer-timeout", "left out without --actors (one process has no peers)",
                          args.peer_timeout)
    from orchestrator.driver import Trainer, TrainingDiverged       # heavy imports after validation

    out = Path(args.out)
    created = not out.exists()
    check_run_directory(out, config.to_dict(), args.resume)   # refusals leave OUT as it was
    with run_lock(out):
        try:
            trainer = Trainer(config, out, resume=args.resume, progress=not args.no_progress)
        except BaseException:
            if created and out.is_dir():   # a failed start leaves no half-made run directory behind
                shutil.rmtree(out)
            raise
        write_provenance(out, config.to_dict())
        try:
            summary = trainer.run(stop_after_episodes=args.stop_after)
        except TrainingDiverged as err:
            print(f"lucas-abm: training stopped: {err}", file=sys.stderr)
            return 3
        finally:
            trainer.close()
    if trainer.stopped_by_signal is not None:      # Ctrl-C or SIGTERM: 130 / 143, as shells report
        print(f"lucas-abm train: stopped after episode {trainer.episode} with a checkpoint; "
              f"continue with --resume", file=sys.stderr)
        return 128 + trainer.stopped_by_signal
    print(json.dumps(summary, indent=2))
    return 0


def run_lock(out: Path):
    """``OUT/locks/train.lock``: one ``lucas-abm train`` (one process, or the launcher of
    ``--actors K``) per run directory. It is taken before anything is written, so a second
    ``--resume`` on a live run stops with exit 2 and leaves the run's config, provenance,
    logs and checkpoints as they were (orchestrator.role_lock)."""
    from orchestrator.role_lock import RoleLock

    return RoleLock(out, "train", allowed="a run directory no other lucas-abm train is using")


def run_processes(args: argparse.Namespace, config) -> int:
    """``--actors K``: the roles as processes on loopback, supervised by orchestrator.launch."""
    import yaml

    from orchestrator.algorithms import check_sharding
    from orchestrator.launch import Launcher, check_machine_holds
    from orchestrator.resume import check_layout, check_resumable

    if args.stop_after is not None:
        raise ConfigError("--stop-after", "absent with --actors (stop the launcher; --resume continues)",
                          args.stop_after)
    check_sharding(config, args.shards)
    check_machine_holds(args.actors, args.shards)
    out = Path(args.out)
    saved = out / "config.yaml"
    if saved.exists() and not args.resume:
        raise ConfigError("--out", "a new directory, or pass --resume to continue the run in it", str(out))
    if saved.exists():
        check_layout(out, args.actors)
        check_resumable(saved, config.to_dict())
    with run_lock(out):
        saved.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        write_provenance(out, config.to_dict())
        from orchestrator.population import record

        record(out, config)   # RUN/population.csv|json (a population's seeded size draw)

        peer_timeout = PEER_TIMEOUT_S if args.peer_timeout is None else args.peer_timeout
        code = Launcher(saved, out, args.actors, args.shards, peer_timeout).run()
    if code == 0 and (out / "summary.json").exists():
        print((out / "summary.json").read_text())
    return code
