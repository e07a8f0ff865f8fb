//! Criterion micro-benchmarks of the engine's hot paths, plus one short end-to-end M/M/c run.
//!
//! `cargo bench --bench engine` (about 30 s in all: sample size 10, 2 s of measurement each).
//! Filter with `cargo bench --bench engine -- queue` etc. These are for spotting regressions in
//! one place; the throughput comparison against the SimPy peer is experiments/bench.sh.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use edgesim::engine::{component_rng, Dist, EventQueue, SimDuration, SimTime};
use edgesim::model::world::{Ev, RunOptions};
use edgesim::scenario;
use rand::Rng;
use std::path::Path;
use std::time::Duration;

/// The "hold" model of event-list benchmarks: `pending` events in the queue, then `ops` times
/// pop the earliest and push one a random (exponential-ish) interval later. The payload is the
/// model's own `Ev`, so entries have the size the simulator really moves around.
fn queue_hold(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_queue");
    const OPS: u64 = 100_000;
    for &pending in &[16usize, 1_000, 100_000] {
        g.throughput(Throughput::Elements(OPS));
        g.bench_with_input(BenchmarkId::new("hold_pop_push", pending), &pending, |b, &pending| {
            let mut rng = component_rng(1, "bench:queue");
            // Pre-drawn gaps so the benchmark measures the queue, not the generator.
            let gaps: Vec<u64> = (0..4096).map(|_| rng.gen_range(1..2_000_000u64)).collect();
            let mut q: EventQueue<Ev> = EventQueue::new();
            for i in 0..pending {
                q.push(SimTime(gaps[i % gaps.len()]), Ev::ManualReauth { family: i as u32 });
            }
            let mut k = 0usize;
            b.iter(|| {
                for _ in 0..OPS {
                    let (t, ev) = q.pop().expect("hold keeps the queue non-empty");
                    k = (k + 1) & 4095;
                    q.push(SimTime(t.0 + gaps[k]), black_box(ev));
                }
            });
        });
    }
    // Fill then drain: the pattern of a burst (many events scheduled at once, then consumed).
    g.throughput(Throughput::Elements(OPS));
    g.bench_function("fill_drain_100k", |b| {
        let mut rng = component_rng(1, "bench:queue");
        let times: Vec<u64> = (0..OPS).map(|_| rng.gen_range(0..1_000_000_000u64)).collect();
        b.iter(|| {
            let mut q: EventQueue<Ev> = EventQueue::new();
            for (i, &t) in times.iter().enumerate() {
                q.push(SimTime(t), Ev::ManualReauth { family: i as u32 });
            }
            while let Some(x) = q.pop() {
                black_box(x);
            }
        });
    });
    g.finish();
}

/// Dist::sample for the shapes the models use, with the engine's own generator (ChaCha12), and
/// the generator alone as a floor.
fn dist_sampling(c: &mut Criterion) {
    let mut g = c.benchmark_group("dist_sample");
    const N: u64 = 10_000;
    g.throughput(Throughput::Elements(N));
    let ms = SimDuration::from_millis;
    let dists: Vec<(&str, Dist)> = vec![
        ("constant", Dist::constant(ms(20))),
        ("uniform", Dist::Uniform { low: ms(10), high: ms(30) }),
        ("exponential", Dist::exponential(ms(1000))),
        ("lognormal", Dist::lognormal_median_p99(ms(30), ms(150)).expect("valid")),
        ("normal", Dist::Normal { mean: ms(50), std_dev: ms(10) }),
        ("empirical", Dist::Empirical { points: vec![(0.0, ms(5)), (0.5, ms(20)), (0.9, ms(60)), (0.99, ms(200)), (1.0, ms(1000))] }),
        ("mixture", Dist::mixture(vec![(0.99, Dist::constant(ms(20))), (0.01, Dist::constant(ms(1000)))]).expect("valid")),
    ];
    g.bench_function("rng_f64_floor", |b| {
        let mut rng = component_rng(1, "bench:dist");
        b.iter(|| {
            let mut acc = 0.0f64;
            for _ in 0..N {
                acc += rng.gen::<f64>();
            }
            black_box(acc)
        });
    });
    for (name, d) in dists {
        d.validate().expect("benchmark distributions are valid");
        g.bench_function(name, |b| {
            let mut rng = component_rng(1, "bench:dist");
            b.iter(|| {
                let mut acc = 0u64;
                for _ in 0..N {
                    acc = acc.wrapping_add(d.sample(&mut rng).micros());
                }
                black_box(acc)
            });
        });
    }
    g.finish();
}

/// One short end-to-end run of models/bench-mmc.toml (c = 2, lambda = 1.8, mu = 1), throughput
/// in simulated customers. Model loading is outside the timed region, as in edgesim-bench.
fn mmc_run(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/bench-mmc.toml");
    let model = scenario::load_file(&path, &[]).expect("models/bench-mmc.toml loads").model;
    let duration = SimDuration::from_secs(20_000); // ~36 000 customers, a few ms
    let probe = edgesim::run(model.clone(), RunOptions { duration: Some(duration), ..Default::default() }).expect("runs");
    let mut g = c.benchmark_group("mmc_run");
    g.throughput(Throughput::Elements(probe.invocations));
    g.bench_function("c2_lam1.8_mu1_20000s", |b| {
        b.iter_batched(
            || model.clone(),
            |m| {
                let s = edgesim::run(m, RunOptions { duration: Some(duration), ..Default::default() }).expect("runs");
                black_box(s.events)
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = queue_hold, dist_sampling, mmc_run
}
criterion_main!(benches);
