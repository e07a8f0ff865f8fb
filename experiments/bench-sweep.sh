#!/usr/bin/env bash
# Sweep throughput on 1 and 2 threads (or the counts given), the scaling ratio, and a check that
# the outputs are byte-identical whatever the thread count.
#
#   experiments/bench-sweep.sh [EXPERIMENT] [THREADS...]
#   experiments/bench-sweep.sh experiments/seed-advice.toml 1 2
#
# Runs/s is wall-clock: on a machine shared with other work the ratio understates the scaling.
set -euo pipefail
cd "$(dirname "$0")/.."
exp=${1:-experiments/seed-advice.toml}
shift || true
threads=("$@")
[ ${#threads[@]} -gt 0 ] || threads=(1 2)

cargo build --release --quiet
bin=target/release/edgesim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

declare -A rate cpu
for t in "${threads[@]}"; do
  # CPU seconds per wall second: how many cores the sweep actually kept busy.
  line=$(/usr/bin/time -f 'cpu %U %S %e' "$bin" sweep "$exp" --out "$tmp/t$t" --threads "$t" --fresh --no-progress 2>&1 >/dev/null | grep -E 'runs/s|^cpu')
  rate[$t]=$(grep 'runs/s' <<<"$line" | sed -E 's/.*= ([0-9.]+) runs\/s.*/\1/')
  cpu[$t]=$(grep '^cpu' <<<"$line" | awk '{ printf "%.2f", ($2 + $3) / $4 }')
  echo "threads $t: $(grep 'runs/s' <<<"$line")"
done
first=${threads[0]}
for t in "${threads[@]}"; do
  for f in results.csv summary.csv recommendation.json recommendation.md; do
    cmp -s "$tmp/t$first/$f" "$tmp/t$t/$f" || { echo "FAIL: $f differs between $first and $t threads"; exit 1; }
  done
  echo "threads $t: $(printf '%.1f' "${rate[$t]}") runs/s, scaling vs $first thread(s): $(awk -v a="${rate[$t]}" -v b="${rate[$first]}" 'BEGIN { printf "%.2f", a / b }')x, cores busy $(printf '%s' "${cpu[$t]}"), outputs identical"
done
echo "load average during the run: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
