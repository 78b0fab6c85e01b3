"""orchestrator/cpu_record.py: a role's CPU seconds in OUT/cpu/ROLE.json, added up over restarts."""
from __future__ import annotations

import json
import time

import pytest

from orchestrator.cpu_record import CpuRecord, cpu_summary, role_cpu_seconds


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def _recorded(out, role) -> dict:
    return json.loads((out / "cpu" / f"{role}.json").read_text())


def test_the_file_follows_the_process_and_a_restart_adds_to_it(tmp_path):
    with CpuRecord(tmp_path, "actor-3", period_s=0.05):
        first = _recorded(tmp_path, "actor-3")["cpu_seconds"]
        assert first == pytest.approx(time.process_time(), abs=0.05)   # this process, from its start
        _burn(0.3)
        deadline = time.monotonic() + 10    # the background thread writes every 0.05 s
        while _recorded(tmp_path, "actor-3")["cpu_seconds"] < first + 0.25:
            assert time.monotonic() < deadline, "no periodic write"
            time.sleep(0.02)
    once = _recorded(tmp_path, "actor-3")
    assert once == {"cpu_seconds": pytest.approx(time.process_time(), abs=0.05), "starts": 1}
    with CpuRecord(tmp_path, "actor-3", period_s=0.05):   # the role again: a restarted process
        pass
    twice = _recorded(tmp_path, "actor-3")
    assert twice["starts"] == 2
    assert twice["cpu_seconds"] == pytest.approx(once["cpu_seconds"] + time.process_time(), abs=0.05)


def test_the_summary_sums_the_roles(tmp_path):
    assert role_cpu_seconds(tmp_path) == {} and cpu_summary(tmp_path) == {}
    for role in ("learner-0", "evaluator"):
        with CpuRecord(tmp_path, role):
            pass
    by_role = role_cpu_seconds(tmp_path)
    assert sorted(by_role) == ["evaluator", "learner-0"]
    assert cpu_summary(tmp_path) == {"cpu_seconds": sum(by_role.values()), "cpu_seconds_by_role": by_role}
