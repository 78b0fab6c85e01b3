"""``lucas-abm actor --actor-id auto``: one number per host, kept across restarts (compose --scale)."""
import socket
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.commands.actor import claim_actor_id

ROOT = Path(__file__).resolve().parents[1]


def test_hosts_claim_distinct_numbers_and_keep_them(tmp_path: Path, monkeypatch):
    claimed = {}
    for host in ["c1", "c2", "c3", "c2", "c1"]:          # c1 and c2 restart
        monkeypatch.setattr(socket, "gethostname", lambda h=host: h)
        claimed.setdefault(host, []).append(claim_actor_id(tmp_path))
    assert claimed == {"c1": [0, 0], "c2": [1, 1], "c3": [2]}
    assert sorted(p.name for p in (tmp_path / "actors" / "ids").iterdir()) == ["0", "1", "2"]


def test_a_claim_without_its_host_file_is_skipped(tmp_path: Path, monkeypatch):
    (tmp_path / "actors" / "ids" / "0").mkdir(parents=True)   # another host mid-claim
    monkeypatch.setattr(socket, "gethostname", lambda: "late")
    assert claim_actor_id(tmp_path) == 1


@pytest.mark.parametrize("value", ["-1", "x", "1.5", ""])
def test_actor_id_must_be_a_number_or_auto(value, tmp_path, capsys):
    """Refused while the command line is read: before, the run directory was made first."""
    out = tmp_path / "run"
    assert main(["actor", "--config", str(ROOT / "configs" / "smoke.yaml"), "--out", str(out),
                 "--replay-address", "localhost:1", "--actor-id", value]) == 2
    assert capsys.readouterr().err.strip() == (f"lucas-abm: error: --actor-id: must be an integer >= 0, "
                                               f"or auto, got {value!r}")
    assert not out.exists()
