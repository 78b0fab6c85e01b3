"""Replay layer on a real in-process Reverb server: exact round trips of n-step windows,
signature enforcement, MinSize with timeouts, FIFO recency, standalone server, checkpoints.

Every sample is bounded: datasets carry ``rate_limiter_timeout_ms`` and direct samples are
only taken once the table is known to hold at least ``min_size`` items.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import portpicker
import pytest
import reverb
import tensorflow as tf

from lucas_abm.dividends import ConstantDividend
from lucas_abm.environment import MarketEnvironment
from lucas_abm.errors import ConfigError
from lucas_abm.market import LucasMarket, MarketConfig
from lucas_abm.mechanisms import PairwiseMatching
from lucas_abm.utility import CRRAUtility
from orchestrator.cli import main as cli_main
from orchestrator.learner import EnsembleLearner, SamplingFailed
from replay.dataset import make_dataset
from replay.server import ReplayServer
from replay.signature import (experience_signature, observation_dimension,
                              signature_from_environment)
from replay.tables import ReplayConfig, load_replay_settings, make_experience_table
from replay.writer import ExperienceWriter

N, D, n = 5, 3, 3
TIMEOUT_MS = 2_000
ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- helpers
def random_episode(rng: np.random.Generator, T: int, episode: int, n_agents=N, dim=D) -> dict:
    """Random float32/int32 data; observation[t, 0, 0] = 1000 * episode + t names the step."""
    obs = rng.normal(size=(T + 1, n_agents, dim)).astype(np.float32)
    obs[:, 0, 0] = 1000 * episode + np.arange(T + 1)
    return {"observation": obs,
            "tree_action": rng.integers(0, 40, (T, n_agents)).astype(np.int32),
            "bond_action": rng.integers(0, 40, (T, n_agents)).astype(np.int32),
            "reward": rng.normal(size=(T, n_agents)).astype(np.float32)}


def write_episode(writer: ExperienceWriter, ep: dict) -> None:
    T = len(ep["reward"])
    for t in range(T):
        writer.append(ep["observation"][t], ep["tree_action"][t], ep["bond_action"][t],
                      ep["reward"][t])
    writer.end_episode(ep["observation"][T])


def window(ep: dict, t: int, n_step: int = n) -> dict:
    """The item an episode should produce for the window starting at t (computed here)."""
    return {"observation": ep["observation"][t:t + n_step + 1],
            "tree_action": ep["tree_action"][t:t + n_step],
            "bond_action": ep["bond_action"][t:t + n_step],
            "reward": ep["reward"][t:t + n_step]}


def window_name(item: dict) -> tuple[int, int]:
    code = int(item["observation"][0, 0, 0])
    return code // 1000, code % 1000


def assert_bitwise_equal(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key in want:
        g, w = np.asarray(got[key]), want[key]
        assert g.dtype == w.dtype and g.shape == w.shape, key
        assert g.tobytes() == w.tobytes(), key   # bit for bit, not within a tolerance


def table_size(server: ReplayServer, table: str = "experience") -> int:
    return server.client().server_info(timeout=5)[table].current_size


def sample_items(server: ReplayServer, count: int, table: str = "experience") -> list[dict]:
    """``count`` uniform samples (call only when the table holds >= min_size items)."""
    samples = server.client().sample(table, num_samples=count, emit_timesteps=False,
                                     unpack_as_table_signature=True)
    return [{k: np.asarray(v) for k, v in s.data.items()} for s in samples]


def start(config: ReplayConfig, signature=None, **kwargs) -> ReplayServer:
    return ReplayServer([make_experience_table(signature or experience_signature(N, D, n),
                                               config)], **kwargs)


# ---------------------------------------------------------------------------- signature
def test_signature_layout_and_derivation_from_the_market():
    sig = experience_signature(N, D, n)
    assert {k: (s.shape.as_list(), s.dtype) for k, s in sig.items()} == {
        "observation": ([n + 1, N, D], tf.float32), "tree_action": ([n, N], tf.int32),
        "bond_action": ([n, N], tf.int32), "reward": ([n, N], tf.float32)}
    for public in (False, True):
        market = LucasMarket(MarketConfig(n_agents=6, horizon=4, public_information=public),
                             ConstantDividend(), CRRAUtility(1.0), PairwiseMatching(), seed=0)
        env = MarketEnvironment(market)
        dim = len(market.observation_names)
        assert dim == observation_dimension(public) == market.observation().shape[1]
        for source in (env, market):
            got = signature_from_environment(source, n_step=2)
            assert got["observation"].shape.as_list() == [3, 6, dim]
            assert got["reward"].shape.as_list() == [2, 6]
    with pytest.raises(ConfigError, match="n_step"):
        experience_signature(N, D, 0)
    with pytest.raises(ConfigError, match="env"):
        signature_from_environment(object(), 2)


def test_replay_config_validation_names_the_field():
    for kwargs, field in [({"capacity": 0}, "replay.capacity"),
                          ({"min_size": 0}, "replay.min_size"),
                          ({"capacity": 5, "min_size": 6}, "replay.min_size"),
                          ({"rate_limiter_timeout_ms": 0}, "replay.rate_limiter_timeout_ms"),
                          ({"capacity": 2.5}, "replay.capacity"), ({"table": ""}, "replay.table"),
                          ({"capacity": 2**31}, "replay.capacity")]:   # was Reverb's TypeError
        with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
            ReplayConfig(**kwargs)
    # the largest capacity Reverb accepts builds a real table
    table = make_experience_table(experience_signature(N, D, n), ReplayConfig(capacity=2**31 - 1))
    assert table.info.max_size == 2**31 - 1
    with pytest.raises(ConfigError, match="batch"):
        ReplayConfig.from_mapping({"capacity": 10, "batch": 3})


# ---------------------------------------------------------------------------- round trip
def test_round_trip_is_bit_exact_with_t_minus_n_plus_one_items_per_episode():
    rng = np.random.default_rng(1)
    lengths = (7, 5, 2)   # the last episode is shorter than n: no window fits
    episodes = [random_episode(rng, T, e) for e, T in enumerate(lengths)]
    config = ReplayConfig(capacity=100, min_size=1, rate_limiter_timeout_ms=TIMEOUT_MS)
    with start(config) as server:
        with ExperienceWriter(server.client(), config.table, n) as writer:
            counts = []
            for ep in episodes:
                before = writer.items_created
                write_episode(writer, ep)
                counts.append(writer.items_created - before)
        expected = {(e, t): window(ep, t) for e, ep in enumerate(episodes)
                    for t in range(len(ep["reward"]) - n + 1)}
        assert counts == [7 - n + 1, 5 - n + 1, 0]
        assert table_size(server) == len(expected) == (7 - n + 1) + (5 - n + 1) == 8
        # uniform sampling with replacement: 400 draws miss none of 8 items (P < 1e-20)
        seen = {}
        for item in sample_items(server, 400):
            name = window_name(item)
            assert_bitwise_equal(item, expected[name])
            seen[name] = True
        assert set(seen) == set(expected)
        assert (0, 7 - n) in seen   # the last window ends at the final observation x_T
        np.testing.assert_array_equal(expected[(0, 7 - n)]["observation"][-1],
                                      episodes[0]["observation"][7])

        # the learner's view: batches [B, ...] of the same windows
        batch = next(iter(make_dataset(server.address, config.table, experience_signature(N, D, n),
                                       batch_size=16, rate_limiter_timeout_ms=TIMEOUT_MS)))
        assert batch["observation"].shape == (16, n + 1, N, D)
        assert batch["tree_action"].shape == batch["reward"].shape == (16, n, N)
        for b in range(16):
            item = {k: v[b].numpy() for k, v in batch.items()}
            assert_bitwise_equal(item, expected[window_name(item)])


@pytest.mark.parametrize("T,starts", [(n - 1, []), (n, [0]), (n + 1, [0, 1])])
def test_items_per_episode_at_the_edge_lengths_with_their_exact_windows(T, starts):
    # T < n: no window fits; T = n: exactly one, x_0..x_T ending at the cut (written by
    # end_episode); T = n + 1: two, the first written by append, the second by end_episode.
    rng = np.random.default_rng(10 + T)
    ep = random_episode(rng, T, 0)
    config = ReplayConfig(capacity=10, min_size=1, rate_limiter_timeout_ms=TIMEOUT_MS)
    with start(config) as server:
        with ExperienceWriter(server.client(), config.table, n) as writer:
            write_episode(writer, ep)
            assert writer.items_created == len(starts) == max(T - n + 1, 0)
            assert writer.episode_steps == 0
        assert table_size(server) == len(starts)
        if not starts:
            return
        got = {window_name(item): item for item in sample_items(server, 100)}  # P(miss) < 1e-29
        assert sorted(got) == [(0, t) for t in starts]
        for t in starts:
            assert_bitwise_equal(got[(0, t)], window(ep, t))
        np.testing.assert_array_equal(got[(0, starts[-1])]["observation"][-1], ep["observation"][T])


def test_flush_puts_every_created_item_in_the_table_mid_episode():
    # flush_every = 100: nothing is flushed by append; flush() must deliver the two windows
    # created so far (T = 5 steps, n = 3: windows starting at 0 and 1), without end_episode.
    ep = random_episode(np.random.default_rng(4), 5, 0)
    config = ReplayConfig(capacity=10, min_size=1, rate_limiter_timeout_ms=TIMEOUT_MS)
    with start(config) as server:
        writer = ExperienceWriter(server.client(), config.table, n, flush_every=100)
        for t in range(5):
            writer.append(ep["observation"][t], ep["tree_action"][t], ep["bond_action"][t],
                          ep["reward"][t])
        assert writer.items_created == 2
        writer.flush()
        assert table_size(server) == 2
        got = {window_name(item): item for item in sample_items(server, 100)}
        assert sorted(got) == [(0, 0), (0, 1)]
        assert_bitwise_equal(got[(0, 1)], window(ep, 1))
        writer.close()
        writer.flush()          # after close: nothing to flush, no error
        writer.close()          # closing twice is harmless
        with pytest.raises(RuntimeError, match="after close"):
            writer.append(ep["observation"][0], ep["tree_action"][0], ep["bond_action"][0],
                          ep["reward"][0])
        with pytest.raises(RuntimeError, match="after close"):
            writer.end_episode(ep["observation"][0])


def test_fifo_capacity_keeps_only_the_most_recent_windows():
    config = ReplayConfig(capacity=4, min_size=1, rate_limiter_timeout_ms=TIMEOUT_MS)
    ep = random_episode(np.random.default_rng(2), 10, 0)    # windows t = 0..7
    with start(config) as server:
        with ExperienceWriter(server.client(), config.table, n, flush_every=1) as writer:
            write_episode(writer, ep)
        assert table_size(server) == 4
        starts = {window_name(item)[1] for item in sample_items(server, 200)}
        assert starts == {4, 5, 6, 7}


# ---------------------------------------------------------------------------- enforcement
def test_signature_is_enforced_by_writer_and_table():
    config = ReplayConfig(capacity=10, min_size=1, rate_limiter_timeout_ms=TIMEOUT_MS)
    good = random_episode(np.random.default_rng(3), 4, 0)
    x, a, r = good["observation"][0], good["tree_action"][0], good["reward"][0]
    with start(config) as server:
        writer = ExperienceWriter(server.client(), config.table, n)
        bad_calls = {
            "observation": (x.astype(np.float64), a, a, r),        # wrong dtype
            "tree_action": (x, a.astype(np.int64), a, r),         # wrong dtype
            "bond_action": (x, a, a[:-1], r),                     # wrong N
            "reward": (x, a, a, r[None]),                         # extra axis
        }
        for field, args in bad_calls.items():
            with pytest.raises(ValueError, match=field):
                writer.append(*args)
        with pytest.raises(ValueError, match="observation"):
            writer.end_episode(x[:, :2])
        writer.close()
        with pytest.raises(ConfigError, match="n_step"):
            ExperienceWriter(server.client(), config.table, n + 1)
        with pytest.raises(ConfigError, match="table"):
            ExperienceWriter(server.client(), "no_such_table", n)
        # Reverb itself rejects a wrong item (its writer checks the table signature it got
        # from the server), even from a writer that skips our checks
        raw = server.client().trajectory_writer(num_keep_alive_refs=n + 1)
        for t in range(n + 1):
            raw.append({"observation": good["observation"][t].astype(np.float64),
                        "tree_action": a, "bond_action": a, "reward": r})
        with pytest.raises(ValueError, match="inconsistent with the table signature"):
            raw.create_item(config.table, 1.0, {
                "observation": raw.history["observation"][-(n + 1):],
                "tree_action": raw.history["tree_action"][-(n + 1):-1],
                "bond_action": raw.history["bond_action"][-(n + 1):-1],
                "reward": raw.history["reward"][-(n + 1):-1]})
        raw.close()
        assert table_size(server) == 0
        # a learner built for another shape fails when its dataset is made
        with pytest.raises(ConfigError, match="signature"):
            make_dataset(server.address, config.table, experience_signature(N + 1, D, n), 4)


def test_writer_arguments_are_refused_with_one_line_messages_naming_the_field():
    config = ReplayConfig(capacity=10, min_size=1, rate_limiter_timeout_ms=TIMEOUT_MS)
    plain = reverb.Table(name="plain", sampler=reverb.selectors.Uniform(),
                         remover=reverb.selectors.Fifo(), max_size=10,
                         rate_limiter=reverb.rate_limiters.MinSize(1))   # no signature
    with ReplayServer([make_experience_table(experience_signature(N, D, n), config), plain]) as server:
        client = server.client()
        for field, kwargs in [("n_step", {"n_step": 0}), ("flush_every", {"flush_every": 0}),
                              ("timeout_ms", {"timeout_ms": True}),
                              ("flush_every", {"flush_every": 2.0})]:
            kwargs = {"n_step": n, **kwargs}
            bad = kwargs[field]
            with pytest.raises(ConfigError) as err:
                ExperienceWriter(client, config.table, **kwargs)
            assert str(err.value) == f"{field}: must be an integer >= 1, got {bad!r}"
        with pytest.raises(ConfigError) as err:
            ExperienceWriter(client, "nope", n)
        assert str(err.value) == "table: must be a table of the server: experience, plain, got 'nope'"
        with pytest.raises(ConfigError) as err:
            ExperienceWriter(client, "plain", n)
        assert str(err.value) == "table: must be a table with a signature, got 'plain'"
        with pytest.raises(ConfigError) as err:
            ExperienceWriter(client, config.table, n + 1)
        assert str(err.value) == f"n_step: must be the table's window length {n}, got {n + 1}"
        writer = ExperienceWriter(client, config.table, n)
        writer.close()
        ep = random_episode(np.random.default_rng(5), 1, 0)
        with pytest.raises(RuntimeError, match=r"^ExperienceWriter\.append\(\) called after "
                                               r"close\(\)$"):
            writer.append(ep["observation"][0], ep["tree_action"][0], ep["bond_action"][0],
                          ep["reward"][0])
        with pytest.raises(RuntimeError, match=r"^ExperienceWriter\.end_episode\(\) called "
                                               r"after close\(\)$"):
            writer.end_episode(ep["observation"][0])


def test_min_size_blocks_then_times_out_with_an_error():
    config = ReplayConfig(capacity=50, min_size=4, rate_limiter_timeout_ms=300)
    sig = experience_signature(N, D, n)
    rng = np.random.default_rng(4)
    with start(config) as server:
        writer = ExperienceWriter(server.client(), config.table, n)
        write_episode(writer, random_episode(rng, n + 1, 0))          # 2 items < min_size
        assert table_size(server) == 2
        dataset = make_dataset(server.address, config.table, sig, batch_size=1,
                               rate_limiter_timeout_ms=config.rate_limiter_timeout_ms)
        began = time.monotonic()
        with pytest.raises(tf.errors.InvalidArgumentError, match="no sample from table"):
            next(iter(dataset))
        waited = time.monotonic() - began
        assert 0.3 <= waited < 10.0        # it did block, for about the timeout, then raised
        write_episode(writer, random_episode(rng, n + 2, 1))          # 3 more: 5 >= min_size
        writer.close()
        batch = next(iter(make_dataset(server.address, config.table, sig, batch_size=8,
                                       rate_limiter_timeout_ms=config.rate_limiter_timeout_ms)))
        assert batch["reward"].shape == (8, n, N)


# ---------------------------------------------------------------------------- standalone
def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


GOOD_CONFIG = """\
market: {n_agents: 4, public_information: true, mechanism: pairwise}
learner: {n_step: 2, batch_size: 32}
replay: {capacity: 50, min_size: 3, rate_limiter_timeout_ms: 2000}
"""


def standalone_server(config_file: Path, port: int, *options: str) -> tuple[subprocess.Popen, reverb.Client]:
    """``lucas-abm replay-server`` in its own process, once it answers on ``port``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "replay-server", "--config", str(config_file),
         "--port", str(port), *options], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    client = reverb.Client(f"localhost:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            client.server_info(timeout=1)
            return proc, client
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"standalone server did not start in 60 s: {proc.stdout.read()}")
            time.sleep(0.5)


def test_standalone_server_from_config_file(tmp_path):
    config_file = write_config(tmp_path / "train.yaml", GOOD_CONFIG)
    settings = load_replay_settings(config_file)
    dim = observation_dimension(True)
    assert (settings.n_agents, settings.observation_dim, settings.n_step) == (4, dim, 2)
    port = portpicker.pick_unused_port()
    proc, client = standalone_server(config_file, port)
    try:
        info = client.server_info(timeout=5)["experience"]
        assert info.max_size == 50 and info.rate_limiter_info.min_size_to_sample == 3
        assert info.signature["observation"].shape.as_list() == [3, 4, dim]
        ep = random_episode(np.random.default_rng(5), 6, 0, n_agents=4, dim=dim)
        with ExperienceWriter(client, "experience", 2) as writer:
            write_episode(writer, ep)                                 # 5 windows
        assert client.server_info(timeout=5)["experience"].current_size == 5
        batch = next(iter(make_dataset(f"localhost:{port}", "experience", settings.signature(),
                                       batch_size=6, rate_limiter_timeout_ms=2000)))
        for b in range(6):
            item = {k: v[b].numpy() for k, v in batch.items()}
            assert_bitwise_equal(item, window(ep, window_name(item)[1], n_step=2))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize("config, options, size, shape", [
    ("replay-only", ["--set", "replay.capacity=70", "--set", "learner.n_step=3"], 70, [4, 4]),
    ("smoke", ["--set", "replay.capacity=123"], 123, None),
])
def test_the_standalone_server_takes_the_overrides_the_other_roles_take(tmp_path, config, options,
                                                                        size, shape):
    """docs/distributed.md: --set goes to every role, and must be the same everywhere; the
    server, which sizes the table, had no --set, so an override of replay.* or learner.n_step
    given to the learner and actors could not reach it."""
    config_file = (write_config(tmp_path / "train.yaml", GOOD_CONFIG) if config == "replay-only"
                   else ROOT / "configs" / "smoke.yaml")
    port = portpicker.pick_unused_port()
    proc, client = standalone_server(config_file, port, *options)
    try:
        info = client.server_info(timeout=5)["experience"]
        assert info.max_size == size
        if shape is not None:
            assert info.signature["observation"].shape.as_list()[:2] == shape
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class BatchSum:
    """A stand-in update rule whose "loss" is the batch's summed reward, so a step's metrics
    come from the batch Reverb served (the real rules are tested in test_ensemble_* and beside)."""

    def train_step(self, batch: dict) -> dict:
        return {"loss": float(tf.reduce_sum(batch["reward"])), "max_weight": 0.0}


def test_learner_step_names_a_server_that_is_down_and_opens_a_stream_once_it_is_up(tmp_path):
    """The learner role catches SamplingFailed and waits for the server (orchestrator/roles.py).
    Before, a stream opened while the server restarted raised Reverb's DeadlineExceededError,
    which killed the learner (seen in test_distributed's kill-and-restart test). The server runs
    in its own process: one in the learner's process is read directly, without gRPC. (A stream
    already open when its server dies is the next test's.)"""
    config_file = write_config(tmp_path / "train.yaml", GOOD_CONFIG)
    settings = load_replay_settings(config_file)
    port = portpicker.pick_unused_port()
    learner = EnsembleLearner(BatchSum(), lambda: iter(make_dataset(
        f"localhost:{port}", "experience", settings.signature(), batch_size=2, prefetch=0,
        rate_limiter_timeout_ms=1000)))
    for _ in range(2):                                                # and again: nothing was kept
        with pytest.raises(SamplingFailed, match="sampling failed") as no_server:
            learner.step()                                            # nothing on the port yet
        assert isinstance(no_server.value.__cause__, reverb.errors.ReverbError)
        assert not learner.started and learner.updates == 0
    proc, client = standalone_server(config_file, port)
    try:
        ep = random_episode(np.random.default_rng(7), 4, 0, n_agents=4, dim=settings.observation_dim)
        with ExperienceWriter(client, "experience", 2) as writer:
            write_episode(writer, ep)                                 # 3 windows >= min_size 3
        window_rewards = [float(ep["reward"][t:t + 2].sum()) for t in range(3)]
        for _ in range(3):
            loss = learner.step()["loss"]                             # 2 windows, with replacement
            assert min(abs(loss - a - b) for a in window_rewards for b in window_rewards) < 1e-4
        assert learner.started and learner.updates == 3
    finally:
        proc.kill()
        proc.wait(timeout=30)


SAMPLING_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from test_replay import BatchSum            # this module's stand-in update rule
from orchestrator.learner import EnsembleLearner
from orchestrator.sampling_watchdog import SamplingWatchdog
from replay.dataset import make_dataset
from replay.tables import load_replay_settings

config_file, address, marker = sys.argv[1:4]
learner = EnsembleLearner(BatchSum(), lambda: iter(make_dataset(
    address, "experience", load_replay_settings(config_file).signature(), batch_size=2, prefetch=0,
    rate_limiter_timeout_ms=1000)))
watchdog = SamplingWatchdog(address, 3.0, "learner", on_exit=lambda: Path(marker).write_text("cpu"),
                            period_s=0.5)
for _ in range(3):
    with watchdog.armed():
        learner.step()
print("stepped", flush=True)
sys.stdin.readline()                        # the server is killed now
while True:
    with watchdog.armed():
        learner.step()
"""


def test_a_learner_whose_server_dies_while_it_samples_exits_4_with_one_line(tmp_path):
    """A stream that is open when its server dies waits inside Reverb's sampler (measured: 60 s
    and more) where no exception reaches it; the learner role's SamplingWatchdog ends such a
    process with exit code 4, as a role whose peer stays away ``peer_timeout`` seconds does,
    after writing the CPU record (here a marker file). Learner and server each in a process of
    their own; the test kills the server between the learner's steps."""
    config_file = write_config(tmp_path / "train.yaml", GOOD_CONFIG)
    settings = load_replay_settings(config_file)
    port = portpicker.pick_unused_port()
    proc, client = standalone_server(config_file, port)
    learner = None
    try:
        ep = random_episode(np.random.default_rng(7), 4, 0, n_agents=4, dim=settings.observation_dim)
        with ExperienceWriter(client, "experience", 2) as writer:
            write_episode(writer, ep)                                 # 3 windows >= min_size 3
        marker = tmp_path / "on_exit"
        learner = subprocess.Popen(
            [sys.executable, "-c", SAMPLING_CHILD, str(config_file), f"localhost:{port}", str(marker)],
            cwd=ROOT, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert learner.stdout.readline().strip() == "stepped", learner.stderr.read()
        proc.kill()
        proc.wait(timeout=30)
        killed = time.monotonic()
        learner.stdin.write("go\n")
        learner.stdin.flush()
        _, stderr = learner.communicate(timeout=120)
        waited = time.monotonic() - killed
        assert learner.returncode == 4, stderr
        last = stderr.strip().splitlines()[-1]                       # after TensorFlow's warnings
        assert re.fullmatch(rf"lucas-abm learner: no replay server at localhost:{port} "
                            r"for 3 s while sampling \((DeadlineExceeded|Unavailable)Error\)", last), stderr
        assert 3.0 < waited < 30.0 and marker.read_text() == "cpu"
    finally:
        for child in (learner, proc):
            if child is not None and child.poll() is None:
                child.kill()
                child.wait(timeout=30)


@pytest.mark.parametrize("text, field", [
    ("learner: {n_step: 2}\n", "market.n_agents"),
    ("market: {n_agents: 1}\nlearner: {n_step: 2}\n", "market.n_agents"),
    ("market: {n_agents: 4, public_information: 'yes'}\nlearner: {n_step: 2}\n",
     "market.public_information"),
    ("market: {n_agents: 4}\nlearner: {n_step: 0}\n", "learner.n_step"),
    ("market: {n_agents: 4}\n", "learner.n_step"),
    ("market: {n_agents: 4}\nlearner: {n_step: 2}\nreplay: {capacity: 10, min_size: 11}\n",
     "replay.min_size"),
    ("market: {n_agents: 4}\nlearner: {n_step: 2}\nreplay: {size: 10}\n", "replay"),
    ("market: [1, 2]\n", "market"),
    ("- just a list\n", "config"),
    ("market: {n_agents: 4\n", "config"),
])
def test_bad_config_files_raise_config_error_and_exit_2(tmp_path, capsys, text, field):
    config_file = write_config(tmp_path / "bad.yaml", text)
    with pytest.raises(ConfigError) as err:
        load_replay_settings(config_file)
    assert str(err.value).startswith(field + ":")
    assert cli_main(["replay-server", "--config", str(config_file), "--port", "8000"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"lucas-abm: error: {err.value}"]


def test_cli_rejects_missing_file_and_bad_port(tmp_path, capsys):
    assert cli_main(["replay-server", "--config", str(tmp_path / "none.yaml"),
                     "--port", "8000"]) == 2
    config_file = write_config(tmp_path / "train.yaml", GOOD_CONFIG)
    assert cli_main(["replay-server", "--config", str(config_file), "--port", "70000"]) == 2
    (tmp_path / "a_file").write_text("")
    assert cli_main(["replay-server", "--config", str(config_file), "--port", "8000",
                     "--out", str(tmp_path / "a_file")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("lucas-abm: error: config:") and err[1].startswith(
        "lucas-abm: error: port:")
    assert err[2] == (f"lucas-abm: error: --out: must be a directory (new or existing), not a file or "
                      f"inside one, got '{tmp_path / 'a_file'}'")


def test_cli_refuses_a_port_in_use_and_a_checkpoint_dir_that_is_a_file(tmp_path, capsys):
    """Both were tracebacks (gRPC's BuildAndStart ValueError, a NotADirectoryError)."""
    import socket

    config_file = write_config(tmp_path / "train.yaml", GOOD_CONFIG)
    (tmp_path / "a_file").write_text("")
    assert cli_main(["replay-server", "--config", str(config_file), "--port", "8000",
                     "--checkpoint-dir", str(tmp_path / "a_file")]) == 2
    # a path inside a file was a NotADirectoryError once Reverb had started
    assert cli_main(["replay-server", "--config", str(config_file), "--port", "8000",
                     "--checkpoint-dir", str(tmp_path / "a_file" / "sub")]) == 2
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli_main(["replay-server", "--config", str(config_file), "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "lucas-abm: error: --checkpoint-dir: must be a directory (new or existing), not a file or "
        f"inside one, got '{tmp_path / 'a_file'}'",
        "lucas-abm: error: --checkpoint-dir: must be a directory (new or existing), not a file or "
        f"inside one, got '{tmp_path / 'a_file' / 'sub'}'",
        f"lucas-abm: error: --port: must be a port no other process is listening on, got {port}"]


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_restores_the_same_items_into_a_new_server(tmp_path):
    config = ReplayConfig(capacity=20, min_size=2, rate_limiter_timeout_ms=TIMEOUT_MS)
    rng = np.random.default_rng(6)
    episodes = [random_episode(rng, 6, e) for e in range(2)]
    expected = {(e, t): window(ep, t) for e, ep in enumerate(episodes) for t in range(6 - n + 1)}
    with start(config, checkpoint_dir=tmp_path) as server:
        with ExperienceWriter(server.client(), config.table, n) as writer:
            for ep in episodes:
                write_episode(writer, ep)
        path = server.checkpoint()
        assert Path(path).parent == tmp_path / "reverb" and (Path(path) / "DONE").is_file()
    with start(config, checkpoint_dir=tmp_path) as restored:
        assert table_size(restored) == len(expected) == 8
        seen = set()
        for item in sample_items(restored, 300):
            assert_bitwise_equal(item, expected[window_name(item)])
            seen.add(window_name(item))
        assert seen == set(expected)
        # it keeps accepting inserts after the restore (rate limiter not stuck)
        with ExperienceWriter(restored.client(), config.table, n) as writer:
            write_episode(writer, random_episode(rng, 4, 2))
        assert table_size(restored) == 8 + 2
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        start(ReplayConfig(capacity=30, min_size=2), checkpoint_dir=tmp_path)


def test_a_server_that_resets_the_connection_while_a_stream_opens_is_a_sampling_failure():
    """Reverb's client.server_info raises a bare RuntimeError("Connection reset by peer") when
    the server is killed while the learner reads the table's signature (seen in CI: the learner
    died with that traceback and was restarted, in test_distributed's kill-and-restart test). It
    is SamplingFailed, which the learner role waits out, like the server being away. Killing a
    server at that instant cannot be timed in a test, so the stream's opener raises Reverb's
    error; a RuntimeError from a stream already open is not the server's and still propagates."""
    attempts = []

    def reset_then_open():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("Connection reset by peer")
        return iter([{"reward": tf.constant([1.0, 2.0])}])

    learner = EnsembleLearner(BatchSum(), reset_then_open)
    with pytest.raises(SamplingFailed, match="Connection reset by peer"):
        learner.step()
    assert not learner.started
    assert learner.step()["loss"] == 3.0 and learner.started     # the next step opens a stream

    def broken():
        yield {"reward": tf.constant([1.0])}
        raise RuntimeError("a bug in the stream")

    learner = EnsembleLearner(BatchSum(), lambda: broken())
    learner.step()
    with pytest.raises(RuntimeError, match="a bug in the stream"):
        learner.step()
