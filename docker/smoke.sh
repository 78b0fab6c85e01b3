#!/usr/bin/env bash
# Docker smoke test: build the CPU image, train configs/smoke.yaml with the compose stack
# (replay server, learner, 2 actors, evaluator, tensorboard) and check what it wrote.
#
#   bash docker/smoke.sh            (needs a running Docker engine; .ci/run starts one on the CI machine)
#
# Checks: the image runs as a non-root user and holds no compiler; the replay port is not
# published and its network is internal; summary.json has every episode, the two actors took
# distinct numbers, every episode is counted once; image sizes are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
project=lucas-smoke-$$
run=docker-smoke
wait_s=${SMOKE_TIMEOUT:-1200}

compose() {
  if docker compose version >/dev/null 2>&1; then docker compose -p "$project" -f docker/docker-compose.yml "$@"
  else docker-compose -p "$project" -f docker/docker-compose.yml "$@"; fi
}
say() { echo "smoke: $*"; }
fail() { say "FAILED: $*"; compose logs --no-color --tail 40 >&2 || true; exit 1; }

say "building lucas-abm:cpu"
docker build --platform linux/amd64 -q -f docker/Dockerfile -t lucas-abm:cpu . >/dev/null
docker image ls lucas-abm --format 'smoke: image {{.Repository}}:{{.Tag}} {{.Size}}'
[ "$(docker run --rm --entrypoint id lucas-abm:cpu -u)" != 0 ] || fail "the image runs as root"
docker run --rm --entrypoint sh lucas-abm:cpu -c 'command -v gcc cc make' >/dev/null && fail "build tools in the image"
docker run --rm lucas-abm:cpu --version

rm -rf "runs/$run"; mkdir -p "runs/$run"; chown 1000:1000 runs "runs/$run" 2>/dev/null || chmod 777 "runs/$run"
export LUCAS_CONFIG=configs/smoke.yaml LUCAS_RUN=$run LUCAS_PEER_TIMEOUT=120
trap 'compose down -v --remove-orphans >/dev/null 2>&1 || true' EXIT
say "compose up (2 actors)"
compose up -d --scale actor=2

replay=$(compose ps -q replay)
[ -z "$(docker port "$replay")" ] || fail "the replay server's port is published: $(docker port "$replay")"
[ "$(docker network inspect "${project}_replay" --format '{{.Internal}}')" = true ] || fail "the replay network is not internal"

learner=$(compose ps -q learner)
for _ in $(seq "$wait_s"); do
  [ "$(docker inspect -f '{{.State.Status}}' "$learner")" = exited ] && break
  sleep 1
done
code=$(docker inspect -f '{{.State.ExitCode}} {{.State.Status}}' "$learner")
[ "$code" = "0 exited" ] || fail "learner: exit/status $code after ${wait_s}s"
summary="runs/$run/summary.json"
[ -s "$summary" ] || fail "no $summary"
python3 - "$root/runs/$run" <<'PY' || fail "summary check"
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
s = json.loads((run / "summary.json").read_text())
assert s["episodes"] == 10, s
assert s["updates"] > 0 and s["n_agents"] == 10, s
for key in ("tree_price", "bond_price", "tree_price_star", "converged"):
    assert key in s, key
ids = sorted(p.name for p in (run / "actors" / "ids").iterdir())
assert ids == ["0", "1"], ids
rows = [json.loads(l) for f in (run / "actors").glob("actor-*.jsonl") for l in f.read_text().splitlines()]
episodes = [(r["actor"], r["actor_episode"]) for r in rows]
assert len(episodes) == len(set(episodes)), "an episode logged twice"
by_role = s["cpu_seconds_by_role"]   # each container's own record (orchestrator/cpu_record.py)
assert sorted(by_role) == ["actor-0", "actor-1", "evaluator", "learner-0", "replay"], by_role
assert all(v > 0 for v in by_role.values()) and abs(s["cpu_seconds"] - sum(by_role.values())) < 1e-6, s
print(f"smoke: summary ok: {s['episodes']} episodes, {s['updates']} updates, tree {s['tree_price']} "
      f"(p* {s['tree_price_star']:.4f}), actors {ids}, {len(episodes)} actor episodes logged, "
      f"{s['cpu_seconds']:.0f} CPU s over {len(by_role)} roles")
PY
say "passed"
