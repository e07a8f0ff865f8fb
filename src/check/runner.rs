//! Runs properties over generated cases with proptest's `TestRunner`, and shrinks a violation to
//! a minimal case.
//!
//! Each property gets its own runner, seeded from the check's seed, so every property sees the
//! same sequence of cases; a run is cached by case, so a case is simulated once however many
//! properties look at it. On a violation, proptest's shrinking moves each range towards its low
//! end (smallest load, shortest and mildest fault, earliest time, smallest burst) while the
//! property still fails.

use super::case::{self, Case, CaseSpace};
use super::property::Property;
use super::spec::{split_check, RawSpace};
use crate::model::config::Model;
use crate::model::metrics::Summary;
use crate::model::world::RunOptions;
use crate::scenario::{self, ModelError, Override};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::rc::Rc;
use std::time::Instant;

/// Cases per property when neither `--cases` nor `[check] cases` says.
pub const DEFAULT_CASES: u32 = 64;
/// Runs spent shrinking a violation, at most.
pub const DEFAULT_MAX_SHRINK_ITERS: u32 = 256;

/// Why a check could not start or finish: bad input (exit status 2).
#[derive(Debug)]
pub enum CheckError {
    /// The model file (or its `[check]` table) is wrong; located.
    Model(ModelError),
    /// A range, property or flag is wrong.
    Input(String),
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Model(e) => write!(f, "{e}"),
            CheckError::Input(e) => write!(f, "error: {e}"),
        }
    }
}

impl std::error::Error for CheckError {}

impl From<ModelError> for CheckError {
    fn from(e: ModelError) -> Self {
        CheckError::Model(e)
    }
}

/// What running one case gave.
#[derive(Clone, Debug)]
pub enum Outcome {
    Ran(Box<Summary>),
    /// The case's overrides make an invalid model (a range reaches a value the model refuses).
    Invalid(String),
    /// The run stopped at a limit or could not write its trace.
    Stopped(String),
    /// edgesim panicked: a bug in edgesim.
    Panicked(String),
}

/// A model to check, the space its cases come from, and the properties.
pub struct Checker {
    /// The file name as given (used in messages and in replay commands).
    pub model_file: String,
    /// The model text with `[check]` blanked out.
    pub text: String,
    /// `--set` overrides applied to every case (they come first in replay commands).
    pub base: Vec<Override>,
    /// The model with the base overrides: the reference the cases vary.
    pub model: Model,
    pub space: CaseSpace,
    pub properties: Vec<Property>,
    pub cases: u32,
    pub max_shrink_iters: u32,
    /// Whether the file has a `[check]` table.
    pub has_check_table: bool,
    /// Whether `edgesim run` refuses the file as it is (it has a `[check]` table and the model
    /// loader does not skip it): replay lines then say so.
    pub run_refuses_file: bool,
}

impl Checker {
    /// Reads a model file, its `[check]` table and the command line's ranges (which win).
    pub fn from_file(path: &Path, base: &[Override], cli: RawSpace) -> Result<Checker, CheckError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::unreadable(&file, "model file", &e, "check the path; models live under models/"))?;
        Checker::from_text(&text, &file, base, cli)
    }

    /// As [`Checker::from_file`], from the file's text; `file` names it in messages.
    pub fn from_text(text: &str, file: &str, base: &[Override], cli: RawSpace) -> Result<Checker, CheckError> {
        let (stripped, table) = split_check(text, file)?;
        let has_check_table = stripped != text;
        let run_refuses_file = has_check_table && scenario::load_str(text, file, base).is_err();
        let model = scenario::load_str(&stripped, file, base)?;
        let raw = table.overlay(cli);
        let space = raw.finish(&model).map_err(CheckError::Input)?;
        let properties = raw.properties.iter().map(|p| Property::parse(p)).collect::<Result<Vec<_>, _>>().map_err(CheckError::Input)?;
        let checker = Checker {
            model_file: file.to_string(),
            text: stripped,
            base: base.to_vec(),
            model,
            space,
            properties,
            cases: raw.cases.unwrap_or(DEFAULT_CASES),
            max_shrink_iters: raw.max_shrink_iters.unwrap_or(DEFAULT_MAX_SHRINK_ITERS),
            has_check_table,
            run_refuses_file,
        };
        // Both ends of every range must give a valid model: catches a misspelt path or a bound
        // the model refuses before any case runs.
        for high in [false, true] {
            let c = checker.space.corner(high, checker.model.simulation.seed);
            checker
                .load_case(&c)
                .map_err(|e| CheckError::Input(format!("the ranges give an invalid model at their {} end ({c}):\n{e}", if high { "high" } else { "low" })))?;
        }
        Ok(checker)
    }

    /// Checks that the properties can be evaluated: their metrics exist (against one run of the
    /// model), and a property that needs a trigger has a slow fault to look at.
    pub fn validate_properties(&self) -> Result<(), CheckError> {
        let slow = self.space.fault.as_ref().is_some_and(|f| f.kind == case::FaultKind::Slow)
            || self.model.faults.iter().any(|f| matches!(f, crate::model::fault::FaultConfig::Slow { .. }));
        for p in &self.properties {
            if p.needs_slow_fault() && !slow {
                return Err(CheckError::Input(format!(
                    "`{}` needs a slow fault (the trigger) in the cases: add a [[fault]] with kind = \"slow\" to the model, or a fault range (--fault idp:slow --fault-factor 1..20 --fault-length 0s..60s)",
                    p.name()
                )));
            }
        }
        if self.properties.iter().any(|p| matches!(p, Property::Expr { .. })) {
            let c = self.space.corner(false, self.model.simulation.seed);
            if let Outcome::Ran(s) = self.run_case(&c) {
                let known: BTreeSet<String> = crate::report::flatten(&s).into_iter().map(|(k, _)| k).collect();
                for p in &self.properties {
                    p.check_metrics(&known).map_err(CheckError::Input)?;
                }
            }
        }
        Ok(())
    }

    /// Base overrides followed by the case's.
    pub fn overrides(&self, case: &Case) -> Result<Vec<Override>, String> {
        let mut o = self.base.clone();
        o.extend(case.overrides(&self.model)?);
        Ok(o)
    }

    /// The model of a case (its seed is applied when it runs).
    pub fn load_case(&self, case: &Case) -> Result<Model, String> {
        let ov = self.overrides(case)?;
        scenario::load_str(&self.text, &self.model_file, &ov).map_err(|e| e.to_string())
    }

    /// Runs one case. Panics are caught and reported as an outcome.
    pub fn run_case(&self, case: &Case) -> Outcome {
        let model = match self.load_case(case) {
            Ok(m) => m,
            Err(e) => return Outcome::Invalid(e),
        };
        let seed = case.seed;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::run(model, RunOptions { seed: Some(seed), ..Default::default() }))) {
            Ok(Ok(s)) => Outcome::Ran(Box::new(s)),
            Ok(Err(e)) => Outcome::Stopped(e.to_string()),
            Err(p) => Outcome::Panicked(panic_message(&p)),
        }
    }

    /// `edgesim run MODEL --seed N --set ...` for a case.
    pub fn replay_command(&self, case: &Case) -> String {
        match self.overrides(case) {
            Ok(o) => case::replay_command(&self.model_file, case.seed, &o),
            Err(e) => format!("(cannot build the command: {e})"),
        }
    }

    /// `edgesim check MODEL --replay --seed N --set ... --property P`: runs the case once and
    /// checks the property (works whether or not the file has a `[check]` table).
    pub fn recheck_command(&self, case: &Case, property: &Property) -> String {
        let run = self.replay_command(case);
        let rest = run.strip_prefix("edgesim run ").unwrap_or(&run);
        format!("edgesim check {rest} --replay --property {}", case::shell_quote(&property.name()))
    }

    /// Runs one property over `opts.cases` cases, shrinking a violation.
    pub fn check_property(&self, property: &Property, opts: &CheckOptions, cache: &RunCache) -> PropertyReport {
        let started = Instant::now();
        let config = Config {
            cases: opts.cases,
            max_shrink_iters: opts.max_shrink_iters,
            failure_persistence: None,
            source_file: None,
            max_global_rejects: opts.cases.saturating_mul(4).max(1024),
            // Not from PROPTEST_* variables: a check's cases depend only on its arguments.
            fork: false,
            timeout: 0,
            max_shrink_time: 0,
            verbose: 0,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, check_rng(opts.seed));
        let strategy = case::cases(&self.space);
        let calls = Cell::new(0u32);
        let first_failure = Cell::new(None::<u32>);
        let result = runner.run(&strategy, |c| {
            calls.set(calls.get() + 1);
            let outcome = cache.get_or_run(self, &c);
            let failed = match &*outcome {
                Outcome::Ran(s) => property.check(s).err(),
                Outcome::Invalid(e) => Some(format!("{INVALID}{e}")),
                Outcome::Stopped(e) => Some(format!("the run stopped: {e}")),
                Outcome::Panicked(e) => Some(format!("edgesim panicked: {e}")),
            };
            match failed {
                None => Ok(()),
                Some(reason) => {
                    if first_failure.get().is_none() {
                        first_failure.set(Some(calls.get()));
                    }
                    Err(TestCaseError::fail(reason))
                }
            }
        });
        let verdict = match result {
            Ok(()) => Verdict::Held { cases: calls.get() },
            Err(TestError::Fail(reason, case)) => {
                let reason = reason.message().to_string();
                let found = first_failure.get().unwrap_or(calls.get());
                match reason.strip_prefix(INVALID) {
                    Some(e) => Verdict::Invalid { case, reason: e.to_string() },
                    None => Verdict::Violated { case, reason, after_cases: found, shrink_runs: calls.get() - found },
                }
            }
            Err(TestError::Abort(r)) => Verdict::Aborted(r.message().to_string()),
        };
        PropertyReport { property: property.clone(), verdict, seconds: started.elapsed().as_secs_f64() }
    }

    /// Runs every property.
    pub fn check_all(&self, opts: &CheckOptions, mut on_report: impl FnMut(&PropertyReport)) -> Vec<PropertyReport> {
        let cache = RunCache::default();
        let mut out = vec![];
        for p in &self.properties {
            let r = self.check_property(p, opts, &cache);
            on_report(&r);
            out.push(r);
        }
        out
    }
}

const INVALID: &str = "invalid model: ";

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "(no message)".into())
}

/// proptest's random stream for a check seed (ChaCha, so it is the same on every platform).
pub fn check_rng(seed: u64) -> TestRng {
    let mut h = blake3::Hasher::new();
    h.update(b"edgesim check");
    h.update(&seed.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, h.finalize().as_bytes())
}

/// How many cases, from which check seed, and how long to shrink.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub cases: u32,
    /// Seeds proptest's generator: the same seed draws the same cases.
    pub seed: u64,
    pub max_shrink_iters: u32,
}

/// Summaries by case, shared by the properties of one check.
#[derive(Default)]
pub struct RunCache {
    runs: RefCell<BTreeMap<Case, Rc<Outcome>>>,
    simulated: Cell<u64>,
}

impl RunCache {
    pub fn get_or_run(&self, checker: &Checker, case: &Case) -> Rc<Outcome> {
        if let Some(o) = self.runs.borrow().get(case) {
            return o.clone();
        }
        let o = Rc::new(checker.run_case(case));
        self.simulated.set(self.simulated.get() + 1);
        self.runs.borrow_mut().insert(case.clone(), o.clone());
        o
    }
    /// Cases actually simulated (not served from the cache).
    pub fn simulated(&self) -> u64 {
        self.simulated.get()
    }
}

#[derive(Clone, Debug)]
pub enum Verdict {
    /// Every case held.
    Held { cases: u32 },
    /// A case violates the property; `case` is the minimal one shrinking found.
    Violated { case: Case, reason: String, after_cases: u32, shrink_runs: u32 },
    /// A case gave a model edgesim refuses (a range is too wide): bad input.
    Invalid { case: Case, reason: String },
    /// proptest gave up.
    Aborted(String),
}

#[derive(Clone, Debug)]
pub struct PropertyReport {
    pub property: Property,
    pub verdict: Verdict,
    /// Wall-clock time (for JUnit; never in the text report, which is deterministic).
    pub seconds: f64,
}

impl PropertyReport {
    pub fn passed(&self) -> bool {
        matches!(self.verdict, Verdict::Held { .. })
    }
    /// A failure caused by bad input rather than by the model.
    pub fn is_error(&self) -> bool {
        matches!(self.verdict, Verdict::Invalid { .. } | Verdict::Aborted(_))
    }

    /// The report's lines after the status line.
    pub fn detail(&self, checker: &Checker) -> Vec<String> {
        match &self.verdict {
            Verdict::Held { .. } => vec![],
            Verdict::Violated { case, reason, after_cases, shrink_runs } => {
                let mut v = vec![
                    format!("violated by case {after_cases}; shrunk in {shrink_runs} runs to the minimal case:"),
                    format!("  {case}"),
                    format!("  {reason}"),
                    format!("replay:   {}", checker.replay_command(case)),
                    format!("re-check: {}", checker.recheck_command(case, &self.property)),
                ];
                if checker.run_refuses_file {
                    v.push("(this edgesim's `run` refuses a model file with a [check] table; the re-check line runs the same case)".into());
                }
                v
            }
            Verdict::Invalid { case, reason } => vec![format!("a case gives an invalid model ({case}): narrow the range"), reason.clone()],
            Verdict::Aborted(r) => vec![format!("proptest gave up: {r}")],
        }
    }
}

/// The text report: deterministic (no wall-clock time), one block per property.
pub fn render(checker: &Checker, opts: &CheckOptions, reports: &[PropertyReport]) -> String {
    let mut o = String::new();
    o.push_str(&header(checker, opts));
    for r in reports {
        o.push_str(&render_one(checker, r));
    }
    o.push_str(&footer(reports));
    o
}

pub fn header(checker: &Checker, opts: &CheckOptions) -> String {
    let mut o = format!(
        "edgesim check {}: {} properties, {} cases each (check seed {}), varying:\n",
        checker.model_file,
        checker.properties.len(),
        opts.cases,
        opts.seed
    );
    for line in checker.space.describe() {
        o.push_str(&format!("  {line}\n"));
    }
    for o2 in &checker.base {
        o.push_str(&format!("  fixed {}={}\n", o2.path, o2.value));
    }
    o
}

pub fn render_one(checker: &Checker, r: &PropertyReport) -> String {
    let status = match &r.verdict {
        Verdict::Held { cases } => format!("ok     {}  ({cases} cases)", r.property.name()),
        Verdict::Violated { .. } => format!("FAILED {}", r.property.name()),
        Verdict::Invalid { .. } | Verdict::Aborted(_) => format!("ERROR  {}", r.property.name()),
    };
    let mut o = format!("{status}\n");
    for l in r.detail(checker) {
        o.push_str(&format!("       {l}\n"));
    }
    o
}

pub fn footer(reports: &[PropertyReport]) -> String {
    let failed = reports.iter().filter(|r| !r.passed() && !r.is_error()).count();
    let errors = reports.iter().filter(|r| r.is_error()).count();
    format!("{} held, {failed} violated, {errors} errors\n", reports.len() - failed - errors)
}
