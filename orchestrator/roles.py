"""Each role as its own process against a replay server address (``lucas-abm learner | actor |
evaluator``; the server is ``lucas-abm replay-server``). All share the run directory ``out``.

Waits: every call into Reverb has a timeout (``peer_timeout`` seconds, ``replay.
rate_limiter_timeout_ms`` for samples; a sample stream whose server dies is watched by
orchestrator.sampling_watchdog); a role whose peer stays away that long exits with code 4 and
one line naming the peer, so a supervisor (``train --actors K``, or Docker's ``restart:
on-failure``) can restart it. Nothing waits forever.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from orchestrator.actor import MarketActor
from orchestrator.algorithms import ShardedPolicy, make_algorithm
from orchestrator.config import PEER_TIMEOUT_S, TrainConfig
from orchestrator.coordinator import Coordinator, actor_log, append_row, checkpoint_manager, read_rows
from orchestrator.cpu_record import CpuRecord, cpu_summary
from orchestrator.episode import Economy, sampled_agents
from orchestrator.evaluator import GreedyEvaluator
from orchestrator.learner import EnsembleLearner, SamplingFailed
from orchestrator.role_lock import RoleLock
from orchestrator.sampling_watchdog import SamplingWatchdog
from replay.variables import (PeerUnavailable, VariableClient, VariablePublisher, call_with_timeout,
                              flat_size, make_variable_table, weights_table_name)

PULL_EVERY = 10          # actor market steps between weight pulls
PUBLISH_EVERY_S = 0.5    # learner: seconds between weight publications (when it has updated)


def log(message: str) -> None:
    print(message, flush=True)


def observation_dim(economy: Economy) -> int:
    return economy.observation_dim


def replay_tables(config: TrainConfig, shards: int = 1) -> list:
    """The server's tables: the experience table and one weights table per learner shard."""
    from replay.signature import action_dtype, experience_signature
    from replay.tables import make_experience_table

    economy = Economy(config)
    dim = observation_dim(economy)
    tables = [make_experience_table(experience_signature(config.market.n_agents, dim, config.learner.n_step,
                                                         action_dtype(config.learner.algorithm)),
                                    config.replay)]
    for shard in range(shards):
        rule = make_algorithm(config, dim, shards, shard)
        tables.append(make_variable_table(weights_table_name(shard),
                                          flat_size([v.shape for v in rule.variables])))
    return tables


_CLIENTS: dict = {}


def server_info(address: str, timeout_s: float, role: str) -> dict:
    """The server's table infos, retried until ``timeout_s``; PeerUnavailable names the address."""
    import reverb

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return _CLIENTS.setdefault(address, reverb.Client(address)).server_info(timeout=2)
        except Exception as err:  # noqa: BLE001 - down or restarting
            _CLIENTS.pop(address, None)   # a fresh channel: gRPC's reconnect back-off grows to minutes
            if time.monotonic() > deadline:
                raise PeerUnavailable(f"{role}: no replay server at {address} for {timeout_s:g} s "
                                      f"({type(err).__name__})") from None
            time.sleep(0.5)


class ShardedSource:
    """Weights of every learner shard, concatenated in shard order; the metadata of shard 0."""

    def __init__(self, address: str, rules: list):
        self.clients = [VariableClient(address, weights_table_name(s), [v.shape for v in r.variables])
                        for s, r in enumerate(rules)]

    def get_variables(self, timeout_s: float):
        arrays, meta = [], None
        for client in self.clients:
            part, m = client.get_variables(timeout_s)
            arrays += part
            meta = meta or m
        return arrays, meta


def policy_for_all_shards(config: TrainConfig, dim: int, shards: int):
    rules = [make_algorithm(config, dim, shards, s) for s in range(shards)]
    return (rules[0] if shards == 1 else ShardedPolicy(rules)), rules


# ---------------------------------------------------------------------------- actor
def run_actor(config: TrainConfig, out: Path, address: str, actor_id: int, shards: int = 1,
              peer_timeout: float = PEER_TIMEOUT_S, max_owed: int | None = None) -> int:
    """The actor role, alone under its name (orchestrator.role_lock), its CPU seconds kept in
    ``OUT/cpu/actor-K.json`` (orchestrator.cpu_record)."""
    with (RoleLock(out, f"actor-{actor_id}", "--actor-id", "a number no running actor of this run has",
                   actor_id),
          CpuRecord(out, f"actor-{actor_id}")):
        return _run_actor(config, out, address, actor_id, shards, peer_timeout, max_owed)


def _run_actor(config: TrainConfig, out: Path, address: str, actor_id: int, shards: int,
               peer_timeout: float, max_owed: int | None) -> int:
    """Play episodes until the learner publishes stop; log each completed one exactly once.

    Back-pressure: at every pull, while the learner owes more than ``max_owed`` updates
    (default: one episode's, T / update_every; 0 turns it off) the actor pauses, re-reading
    the weights every 0.2 s, for at most ``peer_timeout`` seconds, then goes on regardless.
    What the learner owes is its published debt plus the windows inserted since it published:
    ``owed = meta.owed + (inserts_now - meta.inserts) / update_every``, so a learner that is
    slow to start, busy or dead is seen as behind.
    """
    import reverb

    from replay.writer import ExperienceWriter

    economy = Economy(config)
    policy, rules = policy_for_all_shards(config, observation_dim(economy), shards)
    path = actor_log(out, actor_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    episode = len(read_rows(path))            # this actor's next episode (a rejoin continues)
    timeout_ms = config.replay.rate_limiter_timeout_ms

    def connect() -> ExperienceWriter:
        server_info(address, peer_timeout, f"actor {actor_id}")
        return ExperienceWriter(reverb.Client(address), config.replay.table, config.learner.n_step,
                                timeout_ms=timeout_ms)

    actor = MarketActor(config, economy, policy, connect(), sampled_agents(config), actor_id,
                        ShardedSource(address, rules), timeout_s=peer_timeout)
    log(f"actor {actor_id}: connected to {address}, starting at its episode {episode}")

    limit = config.market.horizon // config.learner.update_every if max_owed is None else max_owed

    learn_from = max(config.replay.min_size, config.learner.batch_size)

    def owed(a: MarketActor) -> float:
        info = server_info(address, peer_timeout, f"actor {actor_id}")[config.replay.table]
        if info.current_size < learn_from:
            return 0.0
        inserted = int(info.rate_limiter_info.insert_stats.completed) - a.meta["inserts"]
        return a.meta["owed"] + max(0, inserted) / config.learner.update_every

    def pull(a: MarketActor) -> None:
        if a.total_steps % PULL_EVERY:
            return
        a.update()
        waited = time.monotonic()
        while limit and not a.meta["stop"] and owed(a) > limit:
            if time.monotonic() - waited > peer_timeout:
                log(f"actor {actor_id}: learner still {owed(a):.0f} updates behind after "
                    f"{peer_timeout:g} s; going on")
                break
            time.sleep(0.2)
            a.update()

    failures = 0
    while True:
        actor.update()
        if actor.meta["stop"]:
            log(f"actor {actor_id}: stop published after {actor.meta['episodes']} episodes; exiting")
            actor.writer.close()
            return 0
        eps = config.exploration.epsilon(actor.meta["episodes"], config.training.episodes)
        actor.rng = np.random.default_rng([config.training.seed, actor_id, episode])
        try:
            row, _ = actor.run_episode(episode, eps, after_step=pull)
        except PeerUnavailable:
            raise
        except Exception as err:  # noqa: BLE001 - a Reverb stream broke: reconnect, replay the episode
            failures += 1
            if failures > 3:
                raise
            log(f"actor {actor_id}: replay stream failed in episode {episode} "
                f"({type(err).__name__}); reconnecting")
            try:
                actor.writer.close()
            except Exception:  # noqa: BLE001
                pass
            actor.writer = connect()
            continue
        failures = 0
        append_row(path, {"actor": actor_id, "actor_episode": episode, "epsilon": eps,
                          "weights_version": actor.meta["version"], "finished_at": time.time(), **row})
        episode += 1


# ---------------------------------------------------------------------------- evaluator
def run_evaluator(config: TrainConfig, out: Path, address: str, shards: int = 1,
                  peer_timeout: float = PEER_TIMEOUT_S) -> int:
    """The evaluator role, alone in its run, its CPU seconds kept in ``OUT/cpu/evaluator.json``."""
    with RoleLock(out, "evaluator"), CpuRecord(out, "evaluator"):
        return _run_evaluator(config, out, address, shards, peer_timeout)


def _run_evaluator(config: TrainConfig, out: Path, address: str, shards: int, peer_timeout: float) -> int:
    """Greedy evaluation every ``eval_interval`` episodes (labelled with the count the weights
    were published at) and at the stop; rows go to ``out/evaluation.jsonl``."""
    import tensorflow as tf

    from orchestrator.metrics import MetricsLog

    economy = Economy(config)
    policy, rules = policy_for_all_shards(config, observation_dim(economy), shards)
    (out / "episodes").mkdir(parents=True, exist_ok=True)
    evaluator = GreedyEvaluator(config, economy, policy, sampled_agents(config), out / "episodes")
    source = ShardedSource(address, rules)
    rows = MetricsLog(out, "evaluation", tf.summary.create_file_writer(str(out / "tensorboard" / "evaluator")))
    done = {r["episode"] for r in rows.rows()}
    interval = config.training.eval_interval
    next_at = (max(done) // interval + 1) * interval if done else interval
    while True:
        arrays, meta = source.get_variables(peer_timeout)
        episodes = meta["episodes"]
        if (episodes >= next_at or meta["stop"]) and episodes not in done:
            for var, value in zip(policy.variables, arrays):
                var.assign(value)
            row = evaluator.evaluate(episodes)
            rows.write(row)
            done.add(episodes)
            log(f"evaluator: episode {episodes}: tree {row['tree_price_median']:.4f} "
                f"(p* {row['tree_price_star']:.4f}), converged={row['converged']}")
            next_at = (episodes // interval + 1) * interval
        if meta["stop"]:
            return 0
        time.sleep(0.5)


# ---------------------------------------------------------------------------- learner
def run_learner(config: TrainConfig, out: Path, address: str, shard: int = 0, shards: int = 1,
                peer_timeout: float = PEER_TIMEOUT_S) -> int:
    """The learner role of one shard, alone under its name, its CPU seconds kept in
    ``OUT/cpu/learner-S.json``."""
    with (RoleLock(out, f"learner-{shard}", "--shard", "a shard no running learner of this run has",
                   shard),
          CpuRecord(out, f"learner-{shard}") as record):
        return _run_learner(config, out, address, shard, shards, peer_timeout, record)


def _run_learner(config: TrainConfig, out: Path, address: str, shard: int, shards: int,
                 peer_timeout: float, record: CpuRecord) -> int:
    """Update the shard's networks from Reverb at the single-process pace (one update per
    ``update_every`` inserted windows), publish weights; shard 0 also coordinates the run."""
    import tensorflow as tf

    from orchestrator.metrics import MetricsLog
    from replay.dataset import make_dataset
    from replay.signature import action_dtype, experience_signature

    economy = Economy(config)
    dim = observation_dim(economy)
    rule = make_algorithm(config, dim, shards, shard)
    ckpts = checkpoint_manager(out, shard)
    latest = ckpts.latest()
    state = ckpts.restore(latest, rule.checkpoint_objects()) if latest else {}
    name = f"learner {shard}" if shards > 1 else "learner"
    log(f"{name}: {'resumed from ' + str(latest) if latest else 'fresh networks'}")
    rc, lc = config.replay, config.learner
    signature = experience_signature(config.market.n_agents, dim, lc.n_step, action_dtype(lc.algorithm))
    server_info(address, peer_timeout, name)

    def iterator():
        return iter(make_dataset(address, rc.table, signature, lc.batch_size,
                                 rate_limiter_timeout_ms=rc.rate_limiter_timeout_ms))

    learner = EnsembleLearner(rule, iterator, VariablePublisher(address, weights_table_name(shard),
                                                                peer_timeout, shard))
    learner.updates = state.get("updates", 0)
    watchdog = SamplingWatchdog(address, peer_timeout, name, on_exit=record.write)
    coordinator = None
    shard0 = None if shard == 0 else VariableClient(address, weights_table_name(0), None)
    if shard == 0:
        coordinator = Coordinator(config, out, MetricsLog(out, "metrics", tf.summary.create_file_writer(
            str(out / "tensorboard"))), economy)
        coordinator.base_wall = state.get("wall_seconds", 0.0)
    episodes = coordinator.episode if coordinator else 0
    interval = config.training.checkpoint_interval
    saved_at = state.get("episode", -1)

    def checkpoint(count: int) -> None:
        nonlocal saved_at
        if shard == 0:
            import reverb
            try:  # the replay server writes its tables to its own --checkpoint-dir
                call_with_timeout(lambda: reverb.Client(address).checkpoint(), peer_timeout, address)
            except Exception as err:  # noqa: BLE001 - the networks are still saved
                log(f"{name}: replay checkpoint failed ({type(err).__name__})")
        ckpts.save(count, rule.checkpoint_objects(),
                   {"episode": count, "updates": learner.updates,
                    "wall_seconds": coordinator.wall_seconds if coordinator else 0.0}, config.to_dict())
        saved_at = count

    published: tuple = ()

    def publish(count: int, stop: int = 0) -> None:
        nonlocal published, last_publish
        deadline = time.monotonic() + (peer_timeout if stop else 0)
        while True:
            try:
                learner.publish(episodes=count, stop=stop, owed=int(budget), inserts=last_inserts or 0)
                published, last_publish = (int(budget), last_inserts, count), time.monotonic()
                return
            except PeerUnavailable as err:
                if time.monotonic() >= deadline:
                    if stop:
                        raise
                    log(f"{name}: {err}")
                    return
                time.sleep(0.5)

    budget, last_inserts, last_publish, losses = 0.0, None, time.monotonic(), []
    last_insert_time = time.monotonic()
    learn_from = max(rc.min_size, lc.batch_size)
    meta_checked = 0.0
    while True:
        info = server_info(address, peer_timeout, name)[rc.table]
        inserts = int(info.rate_limiter_info.insert_stats.completed)
        if last_inserts is None or inserts < last_inserts:     # start, or a restarted server
            if last_inserts is not None:
                log(f"{name}: replay server restarted; reconnecting")
                learner.reset_dataset()
                learner.publisher.close()
            last_inserts = inserts
            publish(episodes)         # weights first: actors and the evaluator wait for them
        if info.current_size >= learn_from:   # as in one process: no debt before min_size
            budget += (inserts - last_inserts) / lc.update_every
        if inserts != last_inserts:
            last_insert_time = time.monotonic()
        elif time.monotonic() - last_insert_time > peer_timeout:
            log(f"{name}: no experience inserted at {address} for {peer_timeout:g} s "
                "(are the actors running?); still waiting")
            last_insert_time = time.monotonic()
        last_inserts = inserts
        if coordinator is not None:
            if coordinator.poll({"updates": learner.updates,
                                 "loss": float(np.mean(losses)) if losses else None,
                                 **learner.episode_metrics()}):
                losses = []
            episodes = coordinator.episode
            if coordinator.done():
                checkpoint(episodes)
                publish(episodes, stop=1)
                log(f"{name}: {episodes} episodes; stop published")
                wait_for_evaluation(out, episodes, peer_timeout, name)
                record.write()    # the roles' CPU seconds so far (orchestrator.cpu_record)
                result = coordinator.write_summary(learner.updates, **cpu_summary(out))
                log(f"{name}: summary written: converged={result['converged']}")
                return 0
            if episodes // interval > max(saved_at, 0) // interval:
                checkpoint(episodes)
        elif time.monotonic() - meta_checked > 1.0:
            meta_checked = time.monotonic()
            _, meta = shard0.get_variables(peer_timeout)
            episodes = meta["episodes"]
            if meta["stop"] or episodes // interval > max(saved_at, 0) // interval:
                checkpoint(episodes)
            if meta["stop"]:
                log(f"{name}: stop published by learner 0; exiting")
                return 0
        stepped = 0
        while budget >= 1 and info.current_size >= learn_from and stepped < 25:
            try:
                with watchdog.armed():      # a stream open when the server dies waits in C++
                    metrics = learner.step()
            except SamplingFailed as err:   # the server is down: the loop's server_info waits
                log(f"{name}: sampling failed ({type(err.__cause__).__name__}); reconnecting")
                break
            losses.append(metrics["loss"])
            budget -= 1
            stepped += 1
        # Busy: publish every PUBLISH_EVERY_S. Idle (owes nothing): publish as soon as what
        # actors read (debt, insert count, episodes) is stale, so an actor never waits on a
        # debt the learner has already paid (docs/distributed.md: why this cannot deadlock).
        if stepped:
            if time.monotonic() - last_publish > PUBLISH_EVERY_S:
                publish(episodes)
        elif (int(budget), last_inserts, episodes) != published:
            publish(episodes)
        if not stepped:
            time.sleep(0.05)


def wait_for_evaluation(out: Path, episode: int, timeout_s: float, name: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(r["episode"] == episode for r in read_rows(out / "evaluation.jsonl")):
            return
        time.sleep(0.25)
    log(f"{name}: no evaluation of episode {episode} from the evaluator within {timeout_s:g} s; "
        "summary uses the last one it wrote")
