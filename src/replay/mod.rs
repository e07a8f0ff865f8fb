//! Incident replay: drive a model with the invocations an SRE recorded during an incident, see
//! how much of what was observed the model reproduces (fidelity), try fixes on the same
//! arrivals (what-ifs), and pack everything into a bundle that anyone can re-run bit for bit.
//!
//! - [`incident`]: the incident files (TOML header + CSV observations), located errors.
//! - [`secrets`]: credentials are refused (or redacted) before anything is parsed or written.
//! - [`run`]: the replay model (recorded arrivals as `Arrivals::Trace`), in-memory traces.
//! - [`fidelity`]: matching observed and simulated invocations.
//! - [`bundle`]: replay bundles and `--verify`.
//! - [`report`]: the text report.
//! - [`cli`]: `edgesim replay`.
//!
//! ```no_run
//! use edgesim::replay::{self, incident::LoadOptions};
//! let inc = replay::incident::load("models/incidents/seed-incident.toml".as_ref(), &LoadOptions::default()).map_err(replay::ReplayError::from).unwrap();
//! let what_if = replay::WhatIf::parse("idp.grace=120s").unwrap();
//! let r = replay::replay(&inc, None, &[what_if]).unwrap();
//! println!("{}", replay::report::to_text(&r.report));
//! ```

pub mod bundle;
pub mod cli;
pub mod fidelity;
pub mod incident;
pub mod report;
pub mod run;
pub mod secrets;

use crate::model::metrics::Summary;
use crate::model::world::RunError;
use crate::scenario::{ModelError, Override};
use fidelity::Fidelity;
use incident::{Incident, IncidentError, LoadError};
use serde::Serialize;

/// Why a replay could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The incident header or observations are wrong (bad input; exit 2). Every problem found.
    #[error("{}", show_all(.0))]
    Incident(Vec<IncidentError>),
    /// The model file, or the model with a what-if applied, is wrong (bad input; exit 2).
    #[error("{0}")]
    Model(ModelError),
    /// A `--what-if` argument is malformed (bad input; exit 2).
    #[error("--what-if `{arg}`: {message}")]
    WhatIf { arg: String, message: String },
    /// The run stopped (a limit; exit 1).
    #[error("{0}")]
    Run(#[from] RunError),
    /// A bundle cannot be read (bad input; exit 2).
    #[error("{0}")]
    Bundle(String),
    /// A bundle does not reproduce, or was edited (exit 1).
    #[error("{0}")]
    Mismatch(String),
    /// An output could not be written (exit 1).
    #[error("{0}")]
    Output(String),
}

fn show_all(errs: &[IncidentError]) -> String {
    const SHOWN: usize = 20;
    let mut s: Vec<String> = errs.iter().take(SHOWN).map(|e| e.to_string()).collect();
    if errs.len() > SHOWN {
        s.push(format!("... and {} more errors", errs.len() - SHOWN));
    }
    s.join("\n")
}

impl ReplayError {
    /// The process exit status: 2 bad input, 1 a run or a verification that failed.
    pub fn exit_code(&self) -> u8 {
        match self {
            ReplayError::Incident(_) | ReplayError::Model(_) | ReplayError::WhatIf { .. } | ReplayError::Bundle(_) => 2,
            ReplayError::Run(_) | ReplayError::Mismatch(_) | ReplayError::Output(_) => 1,
        }
    }
}

impl From<LoadError> for ReplayError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Incident(v) => ReplayError::Incident(v),
            LoadError::Model(m) => ReplayError::Model(m),
        }
    }
}

/// One what-if: one or more overrides applied together (`a=1,b=2`).
#[derive(Clone, Debug, PartialEq)]
pub struct WhatIf {
    /// As given.
    pub text: String,
    pub overrides: Vec<Override>,
}

impl WhatIf {
    /// Parses `PATH=VALUE[,PATH=VALUE...]`. Commas inside `{...}`, `[...]` or quotes belong to
    /// the value (`a={ dist = "uniform", low = "1s", high = "2s" }`).
    pub fn parse(text: &str) -> Result<WhatIf, ReplayError> {
        let err = |message: String| ReplayError::WhatIf { arg: text.to_string(), message };
        let mut parts = vec![];
        let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0);
        for (i, c) in text.char_indices() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '{' | '[') => depth += 1,
                (None, '}' | ']') => depth -= 1,
                (None, ',') if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        if quote.is_some() || depth != 0 {
            return Err(err("unbalanced quotes or brackets".into()));
        }
        let overrides = parts.iter().map(|p| Override::parse(p.trim()).map_err(err)).collect::<Result<Vec<_>, _>>()?;
        Ok(WhatIf { text: overrides.iter().map(|o| format!("{}={}", o.path, o.value)).collect::<Vec<_>>().join(","), overrides })
    }
}

/// The outcome of one run of the replay (baseline or what-if), overall and per org.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Outcome {
    /// `baseline` or the what-if's overrides.
    pub label: String,
    pub overrides: Vec<String>,
    /// blake3 of the run's CSV trace.
    pub trace_hash: String,
    /// Whether any token family was revoked.
    pub revocation: bool,
    pub family_revocations: u64,
    pub first_revocation_at_s: Option<f64>,
    pub lost_rotations: u64,
    pub unauthorized_401: u64,
    pub duplicate_side_effects: u64,
    pub p99_ms: f64,
    pub success_rate: f64,
    /// Recorded invocations whose observed status this run gives too.
    pub matches_observed: usize,
    pub orgs: Vec<OrgOutcome>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrgOutcome {
    pub org: String,
    pub invocations: u64,
    pub success_rate: f64,
    pub unauthorized_401: u64,
    pub family_revocations: u64,
    pub seconds_revoked: f64,
    pub duplicate_side_effects: u64,
    pub p99_ms: f64,
}

impl Outcome {
    fn of(label: String, overrides: Vec<String>, s: &Summary, matches_observed: usize) -> Outcome {
        Outcome {
            label,
            overrides,
            trace_hash: s.trace_hash.clone().unwrap_or_default(),
            revocation: s.family_revocations > 0,
            family_revocations: s.family_revocations,
            first_revocation_at_s: s.first_revocation_at_s,
            lost_rotations: s.lost_rotations,
            unauthorized_401: s.orgs.iter().map(|o| o.unauthorized_401).sum(),
            duplicate_side_effects: s.duplicate_side_effects,
            p99_ms: s.latency.p99_ms,
            success_rate: s.success_rate,
            matches_observed,
            orgs: s
                .orgs
                .iter()
                .map(|o| OrgOutcome {
                    org: o.org.clone(),
                    invocations: o.invocations,
                    success_rate: o.success_rate,
                    unauthorized_401: o.unauthorized_401,
                    family_revocations: o.family_revocations,
                    seconds_revoked: o.seconds_revoked,
                    duplicate_side_effects: o.duplicate_side_effects,
                    p99_ms: o.latency.p99_ms,
                })
                .collect(),
        }
    }
}

/// Everything a replay found.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ReplayReport {
    pub incident: String,
    pub description: String,
    pub time_zero: String,
    pub model_file: String,
    pub edgesim_version: String,
    pub seed: u64,
    pub window_s: f64,
    /// Fault windows applied (the header's, or the model's when the header has none).
    pub faults: usize,
    pub recorded: usize,
    /// Rows skipped under `--lenient`.
    pub skipped: usize,
    /// Values blanked under `--redact`.
    pub redacted: usize,
    pub fidelity: Fidelity,
    pub baseline: Outcome,
    pub what_ifs: Vec<Outcome>,
}

/// A replay's report and its baseline trace (CSV).
pub struct Replayed {
    pub report: ReplayReport,
    pub baseline_trace: String,
}

/// The version written into bundles and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Replays an incident: the baseline (the model as it is) and each what-if, on the same recorded
/// arrivals and the same seed. `seed` overrides the header's, which overrides the model's.
pub fn replay(incident: &Incident, seed: Option<u64>, what_ifs: &[WhatIf]) -> Result<Replayed, ReplayError> {
    let seed = seed.or(incident.header.seed);
    let rows = &incident.observations.rows;
    let base_model = run::replay_model(incident, &[]).map_err(ReplayError::Model)?;
    let orgs: Vec<String> = base_model.orgs.iter().map(|o| o.name.clone()).collect();
    let faults = base_model.faults.len();
    let base = run::simulate(base_model, seed)?;
    let (lines, invs) = run::parse_trace(&base.trace);
    let fidelity = fidelity::measure(rows, &orgs, &lines, &invs);
    let baseline = Outcome::of("baseline".into(), vec![], &base.summary, fidelity.reproduced);
    let mut outcomes = vec![];
    for w in what_ifs {
        let model = run::replay_model(incident, &w.overrides)
            .map_err(|e| ReplayError::Model(ModelError { message: format!("with --what-if `{}`: {}", w.text, e.message), ..e }))?;
        let sim = run::simulate(model, seed)?;
        let (l, i) = run::parse_trace(&sim.trace);
        let f = fidelity::measure(rows, &orgs, &l, &i);
        outcomes.push(Outcome::of(w.text.clone(), w.overrides.iter().map(|o| format!("{}={}", o.path, o.value)).collect(), &sim.summary, f.reproduced));
    }
    let report = ReplayReport {
        incident: incident.name.clone(),
        description: incident.header.description.clone(),
        time_zero: incident.header.time_zero.clone(),
        model_file: incident.model_file.clone(),
        edgesim_version: VERSION.into(),
        seed: base.summary.seed,
        window_s: incident.header.duration.as_secs_f64(),
        faults,
        recorded: rows.len(),
        skipped: incident.observations.skipped.len(),
        redacted: incident.observations.redacted,
        fidelity,
        baseline,
        what_ifs: outcomes,
    };
    Ok(Replayed { report, baseline_trace: base.trace })
}
