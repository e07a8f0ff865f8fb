//! `edgesim check`: the command line. Exit status 0 when every property holds in every case, 1
//! on a violation, 2 on bad input (model, ranges, properties, flags) or a report that could not
//! be written.

use super::property::Property;
use super::runner::{footer, header, render_one, CheckOptions, Checker};
use super::spec::{cli, split_check, RawSpace};
use crate::model::world::RunOptions;
use crate::scenario::{self, Override};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Evaluate properties over generated variations of a model (seeds, load, bursts, fault
/// windows, settings) and shrink a violation to a minimal case with the command that replays it.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Model file (TOML); its optional [check] table declares ranges and properties.
    pub model: PathBuf,
    /// A property: no-family-revocation, no-duplicate-side-effects, no-manual-reauth,
    /// max-401-seconds=S, p99-below=T, amplification-below=K, recovers-after-trigger, or a
    /// predicate such as 'family_revocations == 0 && latency.p99_ms < 20000'. Repeatable;
    /// replaces [check] properties.
    #[arg(long = "property", short = 'p', value_name = "P")]
    pub properties: Vec<String>,
    /// Cases per property (default: [check] cases, else 64).
    #[arg(long)]
    pub cases: Option<u32>,
    /// Seed of the case generator: the same seed draws the same cases (default 0). With
    /// --replay: the simulation's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write a JUnit XML report here (one testcase per property).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Fix a model field in every case: --set idp.grace=30s. Repeatable.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Simulation seeds: N (1..N) or LO..HI (default 1..1000000).
    #[arg(long, value_name = "LO..HI")]
    pub seeds: Option<String>,
    /// Load multiplier range: scales every Poisson rate and burst count, e.g. 0.5..3.
    #[arg(long, value_name = "LO..HI")]
    pub load: Option<String>,
    /// Burst size range for the model's burst workload, e.g. 0..200.
    #[arg(long, value_name = "LO..HI")]
    pub burst_count: Option<String>,
    /// Burst time range, e.g. 0s..10m (default: the arrival period).
    #[arg(long, value_name = "LO..HI")]
    pub burst_at: Option<String>,
    /// Which [[workload]] (index) is the burst (default: the first burst workload).
    #[arg(long, value_name = "INDEX")]
    pub burst_workload: Option<usize>,
    /// Fault window to vary: COMPONENT:KIND with KIND slow, errors or restart, e.g. idp:slow.
    #[arg(long, value_name = "COMPONENT:KIND")]
    pub fault: Option<String>,
    /// Slow-down factor range of a slow fault, e.g. 1..20.
    #[arg(long, value_name = "LO..HI")]
    pub fault_factor: Option<String>,
    /// Error-rate range of an errors fault, e.g. 0..0.5.
    #[arg(long, value_name = "LO..HI")]
    pub fault_rate: Option<String>,
    /// Fault start range, e.g. 0s..10m (default: the arrival period).
    #[arg(long, value_name = "LO..HI")]
    pub fault_start: Option<String>,
    /// Fault length range (restart: time down), e.g. 0s..60s.
    #[arg(long, value_name = "LO..HI")]
    pub fault_length: Option<String>,
    /// Vary a setting over a range of numbers or durations: PATH=LO..HI, e.g.
    /// idp.grace=0s..60s. Repeatable.
    #[arg(long = "vary", value_name = "PATH=LO..HI")]
    pub vary: Vec<String>,
    /// Pick a setting from a list: PATH=A,B,..., e.g.
    /// webhook.token_cache.refresh=concurrent,single-flight. Repeatable.
    #[arg(long = "choose", value_name = "PATH=A,B")]
    pub choose: Vec<String>,
    /// Runs spent shrinking a violation, at most (default 256).
    #[arg(long)]
    pub max_shrink_iters: Option<u32>,
    /// Run the model once (seed --seed, overrides --set; [check] ranges ignored), print its
    /// summary and check the properties: what a violation's re-check line runs.
    #[arg(long)]
    pub replay: bool,
}

fn bad(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(2)
}

fn ranges(a: &CheckArgs) -> Result<RawSpace, String> {
    let mut r = RawSpace { cases: a.cases, max_shrink_iters: a.max_shrink_iters, burst_workload: a.burst_workload, ..Default::default() };
    if let Some(s) = &a.seeds {
        r.seeds = Some(cli::seeds(s)?);
    }
    if let Some(s) = &a.load {
        r.load = Some(cli::milli_range("load", s)?);
    }
    if let Some(s) = &a.burst_count {
        r.burst_count = Some(cli::count_range("burst-count", s)?);
    }
    if let Some(s) = &a.burst_at {
        r.burst_at = Some(cli::duration_range("burst-at", s)?);
    }
    if let Some(s) = &a.fault {
        r.fault_target = Some(cli::fault(s)?);
    }
    match (&a.fault_factor, &a.fault_rate) {
        (Some(_), Some(_)) => return Err("--fault-factor (slow) and --fault-rate (errors) exclude each other".into()),
        (Some(s), None) => r.fault_intensity = Some(cli::milli_range("fault-factor", s)?),
        (None, Some(s)) => r.fault_intensity = Some(cli::milli_range("fault-rate", s)?),
        (None, None) => {}
    }
    if let Some(s) = &a.fault_start {
        r.fault_start = Some(cli::duration_range("fault-start", s)?);
    }
    if let Some(s) = &a.fault_length {
        r.fault_length = Some(cli::duration_range("fault-length", s)?);
    }
    for v in &a.vary {
        r.settings.push(cli::vary(v)?);
    }
    for c in &a.choose {
        r.settings.push(cli::choose(c)?);
    }
    r.properties = a.properties.clone();
    Ok(r)
}

/// Runs `edgesim check`.
pub fn main(args: CheckArgs) -> ExitCode {
    let base: Vec<Override> = match args.set.iter().map(|s| Override::parse(s)).collect() {
        Ok(o) => o,
        Err(e) => return bad(format!("error: --set {e}")),
    };
    if args.replay {
        return replay(&args, &base);
    }
    let raw = match ranges(&args) {
        Ok(r) => r,
        Err(e) => return bad(format!("error: {e}")),
    };
    let checker = match Checker::from_file(&args.model, &base, raw) {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    if checker.properties.is_empty() {
        return bad("error: no property to check: give --property (e.g. --property no-family-revocation) or list them in the model's [check] properties");
    }
    if let Err(e) = checker.validate_properties() {
        return bad(e);
    }
    let opts = CheckOptions {
        cases: args.cases.unwrap_or(checker.cases),
        seed: args.seed.unwrap_or(0),
        max_shrink_iters: args.max_shrink_iters.unwrap_or(checker.max_shrink_iters),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(header(&checker, &opts).as_bytes());
    let _ = out.flush();
    // Panics inside a case are caught and reported with the case; the default hook would print
    // each one again while shrinking.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let reports = checker.check_all(&opts, |r| {
        let _ = out.write_all(render_one(&checker, r).as_bytes());
        let _ = out.flush();
    });
    std::panic::set_hook(hook);
    let _ = out.write_all(footer(&reports).as_bytes());
    let _ = out.flush();
    if let Some(path) = &args.junit {
        if let Err(e) = super::junit::write_atomically(path, &super::junit::to_xml(&checker, &reports)) {
            return bad(format!("error: cannot write the JUnit report to {}: {e}", path.display()));
        }
    }
    if reports.iter().any(|r| r.is_error()) {
        ExitCode::from(2)
    } else if reports.iter().any(|r| !r.passed()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--replay`: one run of the model, its summary, and the properties' verdicts.
fn replay(args: &CheckArgs, base: &[Override]) -> ExitCode {
    let file = args.model.display().to_string();
    let text = match std::fs::read_to_string(&args.model) {
        Ok(t) => t,
        Err(e) => return bad(format!("{file}: error: cannot read the model file: {e}")),
    };
    let (stripped, raw) = match split_check(&text, &file) {
        Ok(x) => x,
        Err(e) => return bad(e),
    };
    let model = match scenario::load_str(&stripped, &file, base) {
        Ok(m) => m,
        Err(e) => return bad(e),
    };
    let texts = if args.properties.is_empty() { raw.properties } else { args.properties.clone() };
    let properties: Vec<Property> = match texts.iter().map(|p| Property::parse(p)).collect() {
        Ok(p) => p,
        Err(e) => return bad(format!("error: {e}")),
    };
    let seed = args.seed.unwrap_or(model.simulation.seed);
    let summary = match crate::run(model, RunOptions { seed: Some(seed), ..Default::default() }) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let known: std::collections::BTreeSet<String> = crate::report::flatten(&summary).into_iter().map(|(k, _)| k).collect();
    for p in &properties {
        if let Err(e) = p.check_metrics(&known) {
            return bad(format!("error: {e}"));
        }
    }
    let mut o = crate::report::to_text(&summary);
    o.push('\n');
    let mut failed = false;
    for p in &properties {
        match p.check(&summary) {
            Ok(d) => o.push_str(&format!("ok     {}  ({d})\n", p.name())),
            Err(d) => {
                failed = true;
                o.push_str(&format!("FAILED {}  ({d})\n", p.name()));
            }
        }
    }
    let _ = std::io::stdout().write_all(o.as_bytes());
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
