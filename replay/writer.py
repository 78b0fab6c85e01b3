"""Write the market's experience as n-step windows, one item per market step.

Call sequence for one episode of horizon T::

    writer = ExperienceWriter(server.client(), "experience", n_step=3)
    for t in range(T):
        writer.append(x_t, tree_action_t, bond_action_t, r_t)   # [N, D], [N], [N], [N]
    writer.end_episode(x_T)                                      # the state after the cut

``append`` at step t >= n inserts the window starting at t - n (x_{t-n}..x_t, actions and
rewards t-n..t-1); ``end_episode`` appends x_T and inserts the last window (x_{T-n}..x_T).
An episode of T >= n steps thus gives T - n + 1 items; a shorter one gives none. The cut at
T is a truncation, so the last window ends at x_T and the learner bootstraps from it.

Every step is sent once; the n + 1 items that contain it reference the same chunk
(``reverb.TrajectoryWriter`` history slicing), so the wire and memory cost is one copy of
the market per step, not n + 1.
"""
from __future__ import annotations

import numpy as np
import reverb

from lucas_abm.errors import ConfigError
from replay.signature import FIELDS, signature_dims


class ExperienceWriter:
    """Turns a stream of market steps into n-step window items of one Reverb table.

    ``append`` checks shapes and dtypes against the table's signature (read from the
    server), so a wrong array raises ``ValueError`` at the call that made it, naming the
    field; there is no silent casting (pass float32 observations/rewards, int32 actions).
    """

    def __init__(self, client: reverb.Client, table: str, n_step: int, flush_every: int = 8,
                 timeout_ms: int = 60_000):
        for name, value in (("n_step", n_step), ("flush_every", flush_every),
                            ("timeout_ms", timeout_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, "an integer >= 1", value)
        info = client.server_info(timeout=max(1, timeout_ms // 1000))
        if table not in info:
            raise ConfigError("table", "a table of the server: " + ", ".join(sorted(info)), table)
        signature = info[table].signature
        if not signature:
            raise ConfigError("table", "a table with a signature", table)
        n_agents, obs_dim, table_n = signature_dims(signature)
        if table_n != n_step:
            raise ConfigError("n_step", f"the table's window length {table_n}", n_step)
        self.table, self.n_step = table, n_step
        self.n_agents, self.observation_dim = n_agents, obs_dim
        self.flush_every, self.timeout_ms = flush_every, timeout_ms
        # one step: the signature's shape without the leading time axis
        self._step_spec = {key: (tuple(signature[key].shape.as_list()[1:]),
                                 signature[key].dtype.as_numpy_dtype) for key in FIELDS}
        self._writer = client.trajectory_writer(num_keep_alive_refs=n_step + 1)
        self.episode_steps = 0      # steps appended in the current episode
        self.items_created = 0      # items created since construction
        self._unflushed = 0

    # ------------------------------------------------------------------ validation
    def _checked(self, field: str, value: np.ndarray) -> np.ndarray:
        shape, dtype = self._step_spec[field]
        array = np.asarray(value)
        if array.dtype != dtype or array.shape != shape:
            raise ValueError(f"{field}: expected {np.dtype(dtype).name}{list(shape)}, "
                             f"got {array.dtype.name}{list(array.shape)}")
        return array

    # ------------------------------------------------------------------ writing
    def append(self, observation: np.ndarray, tree_action: np.ndarray, bond_action: np.ndarray,
               reward: np.ndarray) -> None:
        """Step t: x_t [N, D] float32, tree/bond action indices [N] int32, r_t [N] float32."""
        if self._writer is None:
            raise RuntimeError("ExperienceWriter.append() called after close()")
        step = {"observation": self._checked("observation", observation),
                "tree_action": self._checked("tree_action", tree_action),
                "bond_action": self._checked("bond_action", bond_action),
                "reward": self._checked("reward", reward)}
        self._writer.append(step)
        self.episode_steps += 1
        if self.episode_steps > self.n_step:
            self._create_window()
            if self._unflushed >= self.flush_every:
                self._writer.flush(timeout_ms=self.timeout_ms)
                self._unflushed = 0

    def _create_window(self) -> None:
        """Insert the window whose last observation is the newest step of the history."""
        n, history = self.n_step, self._writer.history
        self._writer.create_item(self.table, priority=1.0, trajectory={
            "observation": history["observation"][-(n + 1):],
            "tree_action": history["tree_action"][-(n + 1):-1],
            "bond_action": history["bond_action"][-(n + 1):-1],
            "reward": history["reward"][-(n + 1):-1],
        })
        self.items_created += 1
        self._unflushed += 1

    def end_episode(self, final_observation: np.ndarray) -> None:
        """x_T after the last step: insert the last window, flush (with timeout), reset."""
        if self._writer is None:
            raise RuntimeError("ExperienceWriter.end_episode() called after close()")
        final = self._checked("observation", final_observation)
        if self.episode_steps >= self.n_step:
            # a step holding only the observation: actions/rewards of step T do not exist
            self._writer.append({"observation": final})
            self._create_window()
        self._writer.end_episode(clear_buffers=True, timeout_ms=self.timeout_ms)
        self._unflushed = 0
        self.episode_steps = 0

    def flush(self) -> None:
        """Block (at most ``timeout_ms``) until every created item is in the table."""
        if self._writer is not None:
            self._writer.flush(timeout_ms=self.timeout_ms)
            self._unflushed = 0

    def close(self) -> None:
        """Flush the items created so far and close the stream (an open episode's tail,
        fewer than n steps since its last window, is dropped)."""
        if self._writer is not None:
            try:
                self._writer.flush(timeout_ms=self.timeout_ms)
            finally:
                self._writer.close()
                self._writer = None

    def __enter__(self) -> "ExperienceWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
