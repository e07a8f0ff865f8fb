//! `edgesim-bench`: wall-clock throughput of `edgesim::run` on a model file.
//!
//! Loads the model once (with `--set` overrides), then runs it `--repeat` times with the trace
//! off, timing `edgesim::run` only: loading, validation, process start-up and printing are
//! outside the timed region (the SimPy peer is timed the same way). Each run gets a fresh clone of
//! the loaded model, made before the clock starts. Reports per-run figures on stderr and the
//! medians on stdout (one JSON line with `--json`).
//!
//! ```text
//! edgesim-bench models/bench-mmc.toml --duration 555556s --repeat 5 --json
//! edgesim-bench models/seed-incident.toml --duration 500000s --repeat 3
//! ```
//!
//! This is a measuring tool, not a test: it never fails on a slow run. Compare its figures with a
//! peer measured in the same session (experiments/bench.sh does), not with numbers from another
//! machine or another day.

use clap::Parser;
use edgesim::engine::{parse_duration, SimDuration};
use edgesim::model::metrics::Summary;
use edgesim::model::world::RunOptions;
use edgesim::scenario::{self, Override};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "edgesim-bench", about = "Time edgesim::run on a model file (trace off) and report events/s and invocations/s")]
struct Args {
    /// Model file (TOML), e.g. models/bench-mmc.toml
    model: PathBuf,
    /// Simulated time during which arrivals happen (overrides simulation.duration), e.g. 555556s.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<SimDuration>,
    /// Master seed (overrides simulation.seed). Every repeat uses the same seed, so every repeat
    /// does identical work.
    #[arg(long)]
    seed: Option<u64>,
    /// Override a model field, as `edgesim run --set` does. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    set: Vec<String>,
    /// Timed runs; the medians are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Untimed runs before the timed ones (warm caches and the allocator).
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Print the medians as one JSON line on stdout.
    #[arg(long)]
    json: bool,
    /// Print nothing per run on stderr.
    #[arg(long)]
    quiet: bool,
}

struct Sample {
    wall: f64,
    summary: Summary,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.repeat == 0 {
        eprintln!("error: --repeat must be at least 1");
        return ExitCode::from(2);
    }
    let overrides: Vec<Override> = match a.set.iter().map(|s| Override::parse(s)).collect() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: --set {e}");
            return ExitCode::from(2);
        }
    };
    let loaded = match scenario::load_file(&a.model, &overrides) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    let mut samples = Vec::with_capacity(a.repeat);
    for i in 0..a.warmup + a.repeat {
        let model = loaded.model.clone();
        let opts = RunOptions { seed: a.seed, duration: a.duration, ..Default::default() };
        let t0 = Instant::now();
        let result = edgesim::run(model, opts);
        let wall = t0.elapsed().as_secs_f64();
        let summary = match result {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        let timed = i >= a.warmup;
        if !a.quiet {
            let completed = summary.invocations - summary.invocations_unfinished;
            eprintln!(
                "{} {:>2}: {:>8.3} s wall  {:>12} events  {:>11} invocations  {:>6.3} M events/s  {:>6.3} M invocations/s  {:>6.3} M completed/s",
                if timed { "run   " } else { "warmup" },
                if timed { i - a.warmup + 1 } else { i + 1 },
                wall,
                summary.events,
                summary.invocations,
                summary.events as f64 / wall / 1e6,
                summary.invocations as f64 / wall / 1e6,
                completed as f64 / wall / 1e6,
            );
        }
        if timed {
            samples.push(Sample { wall, summary });
        }
    }

    // Same seed every repeat: the work is identical, only the wall time varies.
    let s = &samples[0].summary;
    debug_assert!(samples.iter().all(|x| x.summary.events == s.events));
    let completed = s.invocations - s.invocations_unfinished;
    let walls: Vec<f64> = samples.iter().map(|x| x.wall).collect();
    let wall_med = median(walls.clone());
    let wall_min = walls.iter().cloned().fold(f64::INFINITY, f64::min);
    let wall_max = walls.iter().cloned().fold(0.0, f64::max);
    let per_s = |n: u64| median(samples.iter().map(|x| n as f64 / x.wall).collect());
    let out = serde_json::json!({
        "tool": "edgesim-bench",
        "model": loaded.file,
        "overrides": a.set,
        "duration_override": a.duration.map(|d| d.to_string()),
        "seed": s.seed,
        "repeat": a.repeat,
        "warmup": a.warmup,
        "simulated_seconds": s.simulated_seconds,
        "events": s.events,
        "invocations": s.invocations,
        "completed": completed,
        "wall_seconds": wall_med,
        "wall_seconds_min": wall_min,
        "wall_seconds_max": wall_max,
        "wall_seconds_all": walls,
        "events_per_second": per_s(s.events),
        "invocations_per_second": per_s(s.invocations),
        "completed_per_second": per_s(completed),
        "events_per_invocation": if s.invocations == 0 { 0.0 } else { s.events as f64 / s.invocations as f64 },
        "success_rate": s.success_rate,
        "mean_queue_wait_s": s.mean_queue_wait_ms / 1000.0,
        "mean_response_s": s.latency.mean_ms / 1000.0,
        "max_queue_len": s.max_queue_len,
    });
    if a.json {
        println!("{out}");
    } else {
        println!("model              {}", loaded.file);
        println!("runs               {} timed (+{} warm-up), same seed {}", a.repeat, a.warmup, s.seed);
        println!("simulated          {:.0} s, {} events, {} invocations ({} completed)", s.simulated_seconds, s.events, s.invocations, completed);
        println!("wall (median)      {:.3} s  [min {:.3}, max {:.3}]", wall_med, wall_min, wall_max);
        println!("events/s           {:.0}", per_s(s.events));
        println!("invocations/s      {:.0}", per_s(s.invocations));
        println!("completed/s        {:.0}", per_s(completed));
        println!("mean queue wait    {:.4} s, mean response {:.4} s", s.mean_queue_wait_ms / 1000.0, s.latency.mean_ms / 1000.0);
    }
    ExitCode::SUCCESS
}
