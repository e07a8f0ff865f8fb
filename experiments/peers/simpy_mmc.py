#!/usr/bin/env python3
"""M/M/c queue in SimPy: the Python peer for the edgesim M/M/c benchmark.

Poisson arrivals (rate --lam), exponential service times (rate --mu), --c
identical servers modelled as one ``simpy.Resource(capacity=c)`` with FIFO
queueing. One generator process per customer, as a typical SimPy user writes
it. Exactly --customers customers arrive; the run ends when all of them have
departed (or at --horizon simulated time units, if given, whichever is first).

Statistics are kept as running sums (no per-customer records). Wall time is
measured with time.perf_counter around building and running the simulation
only: interpreter start-up, imports and argument parsing are excluded.
"""

import argparse
import json
import platform
import random
import sys
import time

import simpy


def customer(env, servers, rng, mu, stats):
    arrival = env.now
    with servers.request() as req:
        yield req
        start = env.now
        service = rng.expovariate(mu)
        yield env.timeout(service)
    stats["completed"] += 1
    stats["wait_sum"] += start - arrival
    stats["response_sum"] += env.now - arrival
    stats["busy_sum"] += service


def source(env, servers, rng, lam, mu, n_customers, stats):
    for _ in range(n_customers):
        yield env.timeout(rng.expovariate(lam))
        env.process(customer(env, servers, rng, mu, stats))


def simulate(lam, mu, c, n_customers, seed, horizon=None):
    rng = random.Random(seed)
    stats = {"completed": 0, "wait_sum": 0.0, "response_sum": 0.0, "busy_sum": 0.0}

    t0 = time.perf_counter()
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=c)
    env.process(source(env, servers, rng, lam, mu, n_customers, stats))
    env.run(until=horizon)
    wall = time.perf_counter() - t0

    stats["sim_time"] = env.now
    stats["wall_seconds"] = wall
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lam", type=float, required=True, help="arrival rate lambda")
    p.add_argument("--mu", type=float, required=True, help="service rate per server mu")
    p.add_argument("--c", type=int, required=True, help="number of servers")
    p.add_argument("--customers", type=int, required=True, help="customers to simulate")
    p.add_argument("--seed", type=int, default=1, help="seed for random.Random")
    p.add_argument("--horizon", type=float, default=None,
                   help="optional simulated-time limit (default: run until all customers depart)")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    a = p.parse_args(argv)
    if a.lam <= 0 or a.mu <= 0 or a.c < 1 or a.customers < 1:
        p.error("need lam > 0, mu > 0, c >= 1, customers >= 1")
    if a.horizon is not None and a.horizon <= 0:
        p.error("need horizon > 0")

    s = simulate(a.lam, a.mu, a.c, a.customers, a.seed, a.horizon)
    n = s["completed"]
    wall = s["wall_seconds"]
    t_end = s["sim_time"]
    result = {
        "peer": "simpy",
        "simpy_version": simpy.__version__,
        "python": platform.python_version(),
        "lam": a.lam,
        "mu": a.mu,
        "c": a.c,
        "seed": a.seed,
        "customers": n,
        "sim_time": t_end,
        "wall_seconds": wall,
        "customers_per_second": n / wall if wall > 0 else None,
        "mean_wait": s["wait_sum"] / n if n else None,
        "mean_response": s["response_sum"] / n if n else None,
        # Busy time of completed services over total server capacity-time.
        "utilization": s["busy_sum"] / (a.c * t_end) if t_end > 0 else None,
    }
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>22}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
