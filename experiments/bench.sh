#!/usr/bin/env bash
# edgesim throughput and memory benchmark. A measurement, not a test: it prints figures and
# ratios and exits 0 whether or not the targets are met (non-zero only if something broke).
#
#   bash experiments/bench.sh                 # ~1.5-2 min on 2 cores
#   bash experiments/bench.sh --quick         # smaller runs, ~30 s
#   bash experiments/bench.sh --memory-full   # adds the 10^8-invocation memory runs (~2-3 min more)
#
# What it runs:
#  1. M/M/c (models/bench-mmc.toml: c=2, lambda=1.8, mu=1 unless changed) in edgesim and in the
#     SimPy peer (experiments/peers/simpy_mmc.py), with the same lambda, mu, c and number of
#     customers (SimPy gets exactly the number edgesim completed). The two are run in interleaved
#     pairs so that load from other processes hits both alike; each pair gives one ratio.
#     Both sides time the simulation only (no process start, no model loading, no output).
#     Target: edgesim >= 100x SimPy customers/s on one thread.
#  2. The seed incident model (models/seed-incident.toml) with a long --duration (~10^6
#     invocations at its own rates), and the same with org A and C at 10x their rates.
#     Target: >= 10^6 simulated invocations/s on one thread.
#  3. Memory: max RSS (/usr/bin/time -v) of whole edgesim-bench processes, trace off, at 10^6 and
#     10^7 invocations (10^8 with --memory-full) for M/M/c with many workers (lambda=900, c=1000)
#     and for the seed model. Target: < 200 MB at 10^8, and no growth with run length.
#
# Options:
#   --repeat N          timed runs / pairs per measurement (default 3; medians are reported)
#   --customers N       M/M/c customers (default 1000000)
#   --lam X --mu X --c N   M/M/c parameters (default 1.8, 1.0, 2)
#   --seed-duration D   simulated duration of the seed-model run (default 450000s, ~10^6 invocations)
#   --quick             --customers 200000, --seed-duration 90000s, memory at 10^6 and 10^7 (M/M/c only)
#   --memory-full       also measure memory at 10^8 invocations
#   --no-simpy          skip the SimPy peer (no ratio)
# Env: BENCH_OUT (default target/bench) gets the raw JSON of every run and results.json.
#      CARGO_TARGET_DIR is honoured. PEER_VENV / PYTHON as for experiments/peers/run-simpy.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=3
customers=1000000
lam=1.8
mu=1.0
c=2
seed_duration=450000s
quick=0
memory_full=0
simpy=1
while [ $# -gt 0 ]; do
    case "$1" in
        --repeat) repeat="$2"; shift 2 ;;
        --customers) customers="$2"; shift 2 ;;
        --lam) lam="$2"; shift 2 ;;
        --mu) mu="$2"; shift 2 ;;
        --c) c="$2"; shift 2 ;;
        --seed-duration) seed_duration="$2"; shift 2 ;;
        --quick) quick=1; customers=200000; seed_duration=90000s; shift ;;
        --memory-full) memory_full=1; shift ;;
        --no-simpy) simpy=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ "$repeat" -lt 1 ]; then echo "bench.sh: --repeat must be >= 1" >&2; exit 2; fi

out="${BENCH_OUT:-target/bench}"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.time
py() { python3 - "$@"; }

echo "== building (release)"
cargo build --release --quiet --bin edgesim-bench
bin="${CARGO_TARGET_DIR:-target}/release/edgesim-bench"

mmc_model=models/bench-mmc.toml
# Parameters go in through --set so this script is the one place they are chosen.
mean_us=$(py "$mu" <<'EOF'
import sys; print(round(1e6 / float(sys.argv[1])))
EOF
)
mmc_sets=(--set "workload[0].arrivals.rate=$lam" --set "mmc.workers=$c" --set "mmc.service_time.mean=${mean_us}us")
mmc_duration=$(py "$customers" "$lam" <<'EOF'
import sys; print(f"{round(float(sys.argv[1]) / float(sys.argv[2]))}s")
EOF
)

echo "== M/M/c: c=$c lambda=$lam mu=$mu, ~$customers customers (edgesim --duration $mmc_duration), $repeat interleaved pairs"
if [ "$simpy" = 1 ]; then
    # Creates the venv and installs SimPy on first use; not timed.
    bash experiments/peers/run-simpy.sh --lam "$lam" --mu "$mu" --c "$c" --customers 1000 --json >/dev/null
fi
n_customers=""
for i in $(seq 1 "$repeat"); do
    # edgesim: median of 3 in-process runs per pair (each run is short, so 3 smooths a hiccup).
    "$bin" "$mmc_model" "${mmc_sets[@]}" --duration "$mmc_duration" --repeat 3 --json --quiet >"$out/mmc-edgesim-$i.json"
    if [ -z "$n_customers" ]; then
        n_customers=$(py "$out/mmc-edgesim-1.json" <<'EOF'
import json, sys; print(json.load(open(sys.argv[1]))["completed"])
EOF
)
    fi
    py "$out/mmc-edgesim-$i.json" "$i" <<'EOF'
import json, sys; r = json.load(open(sys.argv[1]))
print(f"   pair {sys.argv[2]}: edgesim {r['completed_per_second']:>12,.0f} customers/s  ({r['completed']} customers, {r['wall_seconds']:.3f} s, Wq {r['mean_queue_wait_s']:.3f} s)")
EOF
    if [ "$simpy" = 1 ]; then
        bash experiments/peers/run-simpy.sh --lam "$lam" --mu "$mu" --c "$c" --customers "$n_customers" --seed "$i" --json >"$out/mmc-simpy-$i.json"
        py "$out/mmc-simpy-$i.json" <<'EOF'
import json, sys; r = json.load(open(sys.argv[1]))
print(f"           SimPy   {r['customers_per_second']:>12,.0f} customers/s  ({r['customers']} customers, {r['wall_seconds']:.3f} s, Wq {r['mean_wait']:.3f} s)")
EOF
    fi
done

echo "== seed model: models/seed-incident.toml --duration $seed_duration"
"$bin" models/seed-incident.toml --duration "$seed_duration" --repeat "$repeat" --json >"$out/seed.json"
seed_x10_duration=$(py "$seed_duration" <<'EOF'
import sys; print(f"{round(float(sys.argv[1].rstrip('s')) / 10)}s")
EOF
)
echo "== seed model, orgs A and C at 10x rate: --duration $seed_x10_duration"
"$bin" models/seed-incident.toml --duration "$seed_x10_duration" \
    --set "workload[0].arrivals.rate=20" --set "workload[3].arrivals.rate=2" \
    --repeat "$repeat" --json >"$out/seed-x10.json"

# The cost of recording causes (issue: cascades explained): the same runs with the causal
# graph off (limits.max_cause_nodes=0), for the seed model and for a retry storm where every
# request times out and is retried (the worst case for recording).
echo "== causal-graph recording: on vs off (seed model, metastable retry storm)"
"$bin" models/seed-incident.toml --duration "$seed_duration" --set limits.max_cause_nodes=0 --repeat "$repeat" --json >"$out/seed-nocauses.json"
"$bin" models/metastable.toml --duration 3000s --repeat "$repeat" --json >"$out/storm.json"
"$bin" models/metastable.toml --duration 3000s --set limits.max_cause_nodes=0 --repeat "$repeat" --json >"$out/storm-nocauses.json"

# Memory. Each run is its own process, measured whole by /usr/bin/time -v (max RSS).
mem_sizes=(1000000 10000000)
[ "$memory_full" = 1 ] && mem_sizes+=(100000000)
if [ -x /usr/bin/time ]; then
    for n in "${mem_sizes[@]}"; do
        d=$(py "$n" <<'EOF'
import sys; print(f"{round(int(sys.argv[1]) / 900)}s")
EOF
)
        echo "== memory: M/M/c lambda=900 c=1000 mu=1, ~$n invocations (--duration $d)"
        /usr/bin/time -v "$bin" "$mmc_model" --set "workload[0].arrivals.rate=900" --set "mmc.workers=1000" \
            --duration "$d" --repeat 1 --json --quiet >"$out/mem-mmc-$n.json" 2>"$out/mem-mmc-$n.time"
        if [ "$quick" = 0 ]; then
            # The seed model at its own rates: ~2.22 invocations per simulated second.
            d=$(py "$n" <<'EOF'
import sys; print(f"{round(int(sys.argv[1]) / 2.2225)}s")
EOF
)
            echo "== memory: seed model, ~$n invocations (--duration $d)"
            /usr/bin/time -v "$bin" models/seed-incident.toml --duration "$d" --repeat 1 --json --quiet \
                >"$out/mem-seed-$n.json" 2>"$out/mem-seed-$n.time"
        fi
    done
else
    echo "== memory: /usr/bin/time not found (apt-get install time); skipped"
fi

echo
py "$out" "$repeat" "$lam" "$mu" "$c" <<'EOF'
import glob, json, math, os, re, statistics, sys

out, repeat = sys.argv[1], int(sys.argv[2])
lam, mu, c = float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
load = lambda p: json.load(open(p))
med = statistics.median

def erlang_c_wq(lam, mu, c):
    a = lam / mu
    rho = a / c
    if rho >= 1:
        return math.inf
    s = sum(a**k / math.factorial(k) for k in range(c))
    top = a**c / math.factorial(c) / (1 - rho)
    return top / (s + top) / (c * mu - lam)

results = {"lam": lam, "mu": mu, "c": c, "repeat": repeat}
rows = []

e = [load(p) for p in sorted(glob.glob(f"{out}/mmc-edgesim-*.json"))]
s = [load(p) for p in sorted(glob.glob(f"{out}/mmc-simpy-*.json"))]
e_cps = med([r["completed_per_second"] for r in e])
results["mmc_edgesim_customers_per_s"] = e_cps
results["mmc_customers"] = e[0]["completed"]
wq = erlang_c_wq(lam, mu, c)
rows.append((f"M/M/c customers/s, edgesim (c={c}, lam={lam}, mu={mu})", f"{e_cps:,.0f}", f"Wq {e[0]['mean_queue_wait_s']:.3f} s (Erlang C {wq:.3f})"))
if s:
    s_cps = med([r["customers_per_second"] for r in s])
    pair = [a["completed_per_second"] / b["customers_per_second"] for a, b in zip(e, s)]
    ratio = med(pair)
    results.update(mmc_simpy_customers_per_s=s_cps, mmc_ratio_pairs=pair, mmc_ratio=ratio,
                   simpy_version=s[0].get("simpy_version"), python=s[0].get("python"))
    rows.append((f"M/M/c customers/s, SimPy {s[0].get('simpy_version')}", f"{s_cps:,.0f}", f"Wq {med([r['mean_wait'] for r in s]):.3f} s"))
    verdict = "met" if ratio >= 100 else f"MISSED: {100 / ratio:.2f}x short"
    rows.append(("ratio edgesim / SimPy (median of pairs)", f"{ratio:.1f}x", f"target >= 100x: {verdict}; pairs {', '.join(f'{x:.1f}' for x in pair)}"))

for name, label in (("seed", "seed model"), ("seed-x10", "seed model, A and C at 10x rate")):
    p = f"{out}/{name}.json"
    if os.path.exists(p):
        r = load(p)
        ips = r["invocations_per_second"]
        results[f"{name}_invocations_per_s"] = ips
        results[f"{name}_events_per_s"] = r["events_per_second"]
        results[f"{name}_invocations"] = r["invocations"]
        verdict = "met" if ips >= 1e6 else f"MISSED by {(1 - ips / 1e6) * 100:.0f}% ({1e6 / ips:.2f}x short)"
        rows.append((f"{label}: invocations/s", f"{ips:,.0f}", f"target >= 1,000,000: {verdict}; {r['invocations']:,} invocations"))
        rows.append((f"{label}: events/s", f"{r['events_per_second']:,.0f}", f"{r['events_per_invocation']:.1f} events per invocation"))

for on, off, label in (("seed", "seed-nocauses", "seed model"), ("storm", "storm-nocauses", "metastable retry storm")):
    if os.path.exists(f"{out}/{on}.json") and os.path.exists(f"{out}/{off}.json"):
        a, b = load(f"{out}/{on}.json")["wall_seconds"], load(f"{out}/{off}.json")["wall_seconds"]
        results[f"causes_overhead_{on}"] = a / b - 1
        verdict = "met" if a / b <= 1.10 else "MISSED"
        rows.append((f"causal graph on/off, {label}", f"{a / b:.3f}x", f"target <= 1.10x: {verdict}; {a:.3f} s vs {b:.3f} s"))

def rss_mb(p):
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p).read())
    return int(m.group(1)) / 1024 if m else None

for kind, label in (("mmc", "M/M/c lam=900 c=1000"), ("seed", "seed model")):
    pts = []
    for p in glob.glob(f"{out}/mem-{kind}-*.time"):
        n = int(re.search(r"-(\d+)\.time$", p).group(1))
        j = load(p[:-5] + ".json")
        pts.append((n, rss_mb(p), j["invocations"], j["wall_seconds"]))
    if not pts:
        continue
    pts.sort()
    results[f"rss_mb_{kind}"] = {str(n): r for n, r, _, _ in pts}
    cells = " / ".join(f"{r:.1f}" for _, r, _, _ in pts)
    sizes = " / ".join(f"10^{round(math.log10(n))}" for n, _, _, _ in pts)
    growth = pts[-1][1] / pts[0][1]
    biggest = pts[-1]
    verdict = "met" if biggest[1] < 200 else "MISSED"
    note = f"{sizes} invocations; x{growth:.2f} from smallest to largest; < 200 MB: {verdict}"
    if round(math.log10(biggest[0])) < 8:
        note += " (10^8 not run: --memory-full)"
    rows.append((f"max RSS MB, {label}", cells, note))

w = max(len(r[0]) for r in rows)
v = max(len(r[1]) for r in rows)
print("=" * (w + v + 40))
for a, b, n in rows:
    print(f"{a:<{w}}  {b:>{v}}  {n}")
print("=" * (w + v + 40))
print("Medians of", repeat, "runs; both sides single-threaded, simulation wall time only.")
json.dump(results, open(f"{out}/results.json", "w"), indent=2)
print(f"raw results: {out}/  (summary: {out}/results.json)")
EOF
