#!/usr/bin/env bash
# The GPU runs of docs/acceptance_b.md, "The DQN at GPU scale", as one command on a machine
# with JAX and a GPU (neither TensorFlow nor this repository's environment needed there):
#
#   bash benchmarks/dqn_at_scale_device.sh SPECS OUT [SECONDS]
#
# SPECS holds files written here by `python benchmarks/dqn_at_scale.py spec` (g1.json: gamma 1,
# g2.json: gamma 2, both financed) and `... reference` (ref.npz, the TensorFlow learner's
# numbers on g1.json). The script checks the JAX learner against TensorFlow's first, then
# trains, each run under its share of SECONDS (default 540) and writing its evaluations as it
# goes: OUT/<run>/evaluations.csv, OUT/<run>/summary.json, and OUT/log.txt.
set -u
specs=$1 out=$2 budget=${3:-540}
agents=${AGENTS:-65536} batch=${BATCH:-1048576} episodes=${EPISODES:-300}   # smaller for a trial run
here=$(cd "$(dirname "$0")" && pwd)
export PYTHONUNBUFFERED=1
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
{
  nvidia-smi --query-gpu=name,memory.total,clocks.sm --format=csv,noheader || true
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())"
  python3 "$here/dqn_at_scale.py" check "$specs/g1.json" "$specs/ref.npz" || exit 1
  # time an episode of updates at the full batch (the replay fills in episodes 1-3); halve the
  # batch until 300 episodes fit in 40% of what is left
  timeout 150 python3 "$here/dqn_at_scale.py" train "$specs/g1.json" --agents "$agents" --batch "$batch" \
    --episodes 4 --eval-interval 1 --out "$out/timing" > /dev/null
  per=$(python3 -c "import csv; r=list(csv.DictReader(open('$out/timing/evaluations.csv'))); print(float(r[-1]['wall_seconds']) - float(r[-3]['wall_seconds']))" || echo 1e9)
  batch=$(python3 -c "b=$batch; f=0.4*$(left)/$episodes; t=$per
while t > f and b > 65536: b, t = b // 2, t / 2
print(b)")
  echo "one episode at the full batch: $per s; batch for the runs: $batch"
  rm -rf "$out/timing"
  # name spec seed share-of-what-is-left
  for run in "g1_financed_seed0 g1 0 45" "g1_financed_seed1 g1 1 60" "g2_financed_seed0 g2 0 100"; do
    set -- $run
    limit=$(( $(left) * $4 / 100 ))
    [ "$limit" -gt 30 ] || break
    echo "== $1: ${limit} s"
    timeout "$limit" python3 "$here/dqn_at_scale.py" train "$specs/$2.json" --seed "$3" \
      --agents "$agents" --batch "$batch" --episodes "$episodes" --out "$out/$1" || echo "$1 stopped (rc $?)"
  done
} 2>&1 | tee "$out/log.txt"
