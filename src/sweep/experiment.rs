//! Experiment files: which model to vary, along which axes, how often, and what to keep.
//!
//! ```toml
//! model = "../models/seed-incident.toml"   # relative to this file
//! seed = 1
//! replications = 3
//! set = { "simulation.duration" = "10m" }  # fixed overrides, applied before the axes
//! metrics = ["success_rate", "latency.p99_ms"]
//! constraints = ["family_revocations == 0 && duplicate_side_effects == 0"]
//! objective = "minimize latency.p99_ms"    # or a list: the Pareto front is reported
//!
//! [[axis]]
//! path = "components.edge.deadline"
//! values = ["10s", "30s"]                  # or linear/log = { from, to, steps }, unit = "s"
//!
//! [[axis]]
//! name = "retries"                         # several fields at once: one case per level
//! cases = [
//!   { label = "none" },
//!   { label = "3x exp 2s", set = { "components.webhook.token_endpoint.retry.max_attempts" = 4 } },
//! ]
//! ```
//!
//! Without `[sampling]` the points are the full grid, the first axis varying slowest. With
//! `[sampling] kind = "random" | "latin-hypercube", points = N`, `linear`/`log` axes are ranges
//! (`{ from, to }`, no `steps`) sampled uniformly (in log space for `log`), and `values`/`cases`
//! axes are sampled uniformly among their entries.
//!
//! Seeds: with `common_random_numbers = true` (the default) replication `r` of every point runs
//! with the same master seed `derive_seed(seed, "rep/{r}")`. Components draw from streams named
//! after them, so two points differing only in, say, the edge deadline see the same arrivals and
//! the same latencies, and their difference is mostly the effect of the deadline rather than
//! noise (common random numbers, Law & Kelton, "Simulation Modeling and Analysis", ch. 11). Set
//! it to false for independent seeds `derive_seed(seed, "point/{p}/rep/{r}")`.

// Errors here are `ModelError`s, like the model loader's, built once per load: boxing them would
// buy nothing.
#![allow(clippy::result_large_err)]

use super::expr::{Constraint, Objective};
use crate::engine::rng::derive_seed;
use crate::scenario::error::line_col;
use crate::scenario::{self, ModelError, Override};
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::path::Path;
use toml_edit::{ImDocument, Item};

/// Metrics kept when the experiment lists none: the outcome, the tail latency, and the harms
/// the seed thread is about (revocation cascades, duplicate processing), with the mechanism
/// counters that explain them.
pub const DEFAULT_METRICS: &[&str] = &[
    "success_rate",
    "latency.p50_ms",
    "latency.p99_ms",
    "family_revocations",
    "orgs_needing_manual_reauth",
    "sessions_needing_manual_reauth",
    "duplicate_side_effects",
    "lost_rotations",
    "reuse_detections",
    "grace_reuses",
    "orphaned_replies",
    "encoding_rejections",
    "client_attempts_per_invocation",
    "amplification",
];

/// Default points per chunk aim at this many runs: enough work to keep threads busy between
/// part-file writes, small enough that an interruption loses little.
const RUNS_PER_CHUNK: u64 = 32;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    model: String,
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    seed: u64,
    #[serde(default = "one_u32")]
    replications: u32,
    #[serde(default = "yes")]
    common_random_numbers: bool,
    #[serde(default, rename = "axis")]
    axes: Vec<RawAxis>,
    #[serde(default)]
    sampling: Option<RawSampling>,
    #[serde(default)]
    set: toml::Table,
    #[serde(default)]
    metrics: Option<Vec<String>>,
    #[serde(default)]
    constraints: Vec<String>,
    #[serde(default)]
    objective: Option<OneOrMany>,
    #[serde(default)]
    max_violation_probability: Option<f64>,
    #[serde(default)]
    chunk: Option<u64>,
}

fn one() -> u64 {
    1
}
fn one_u32() -> u32 {
    1
}
fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    values: Option<Vec<toml::Value>>,
    #[serde(default)]
    linear: Option<RawRange>,
    #[serde(default)]
    log: Option<RawRange>,
    #[serde(default)]
    cases: Option<Vec<RawCase>>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    integer: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRange {
    from: Number,
    to: Number,
    #[serde(default)]
    steps: Option<u64>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    fn f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    label: String,
    #[serde(default)]
    set: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSampling {
    kind: SamplingKind,
    points: u64,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum SamplingKind {
    Random,
    LatinHypercube,
}

/// How the points are laid out.
#[derive(Clone, Debug, PartialEq)]
pub enum Design {
    /// Every combination of every axis's levels; the first axis varies slowest.
    Grid,
    /// Independent uniform draws per point and axis.
    Random { points: u64 },
    /// Latin hypercube (McKay, Beckman & Conover 1979): each axis's range is cut into `points`
    /// strata and each stratum is used exactly once.
    LatinHypercube { points: u64 },
}

/// One setting of one axis: what the CSV shows and the overrides it applies.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    pub label: String,
    pub overrides: Vec<Override>,
    /// The number behind a numeric level (for ranges in the recommendation).
    pub number: Option<f64>,
}

#[derive(Clone, Debug)]
enum Domain {
    Values(Vec<toml::Value>),
    Cases(Vec<(String, Vec<Override>)>),
    Linear { from: f64, to: f64, steps: Option<u64>, int_ends: bool },
    Log { from: f64, to: f64, steps: Option<u64>, int_ends: bool },
}

/// An axis: a model field (or, for `cases`, a set of fields) and its levels.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Column name: `name`, or the path.
    pub name: String,
    pub path: Option<String>,
    domain: Domain,
    unit: Option<String>,
    integer: bool,
}

impl Axis {
    fn grid_len(&self) -> u64 {
        match &self.domain {
            Domain::Values(v) => v.len() as u64,
            Domain::Cases(c) => c.len() as u64,
            Domain::Linear { steps, .. } | Domain::Log { steps, .. } => steps.unwrap_or(0),
        }
    }

    /// Whether levels come from a continuous range (sampled designs only).
    pub fn is_range(&self) -> bool {
        matches!(self.domain, Domain::Linear { .. } | Domain::Log { .. })
    }

    /// The `i`th of the axis's grid levels.
    fn grid_level(&self, i: u64) -> Level {
        match &self.domain {
            Domain::Values(v) => self.value_level(&v[i as usize]),
            Domain::Cases(c) => {
                let (label, ov) = &c[i as usize];
                Level { label: label.clone(), overrides: ov.clone(), number: None }
            }
            Domain::Linear { from, to, steps, int_ends } => {
                let n = steps.expect("grid ranges have steps");
                let x = if i + 1 == n {
                    *to
                } else if n == 1 {
                    *from
                } else {
                    from + (to - from) * i as f64 / (n - 1) as f64
                };
                self.number_level(x, *int_ends)
            }
            Domain::Log { from, to, steps, int_ends } => {
                let n = steps.expect("grid ranges have steps");
                let x = if i + 1 == n {
                    *to
                } else if i == 0 || n == 1 {
                    *from
                } else {
                    (from.ln() + (to.ln() - from.ln()) * i as f64 / (n - 1) as f64).exp()
                };
                self.number_level(x, *int_ends)
            }
        }
    }

    /// The level at `u` in [0, 1): the quantile `u` of the axis's range, or an entry chosen
    /// uniformly.
    fn sampled_level(&self, u: f64) -> Level {
        let pick = |len: usize| ((u * len as f64) as usize).min(len - 1) as u64;
        match &self.domain {
            Domain::Values(v) => self.grid_level(pick(v.len())),
            Domain::Cases(c) => self.grid_level(pick(c.len())),
            Domain::Linear { from, to, .. } => self.number_level(from + (to - from) * u, false),
            Domain::Log { from, to, .. } => self.number_level((from.ln() + (to.ln() - from.ln()) * u).exp(), false),
        }
    }

    /// Levels worth checking against the model before a run: every grid level, or the ends of a
    /// range and every entry of a list.
    fn levels_to_check(&self, design: &Design) -> Vec<Level> {
        match (design, &self.domain) {
            (Design::Grid, _) | (_, Domain::Values(_)) | (_, Domain::Cases(_)) => (0..self.grid_len()).map(|i| self.grid_level(i)).collect(),
            (_, Domain::Linear { from, to, .. }) | (_, Domain::Log { from, to, .. }) => vec![self.number_level(*from, false), self.number_level(*to, false)],
        }
    }

    fn number_level(&self, x: f64, int_ends: bool) -> Level {
        // Integer ends make integral levels integers; a log grid's `exp(ln)` is off by an ulp.
        let integral = self.integer || (int_ends && (x - x.round()).abs() <= 1e-9 * x.abs().max(1.0) && x.abs() < 9e15);
        let (label, value) = if let Some(unit) = &self.unit {
            let s = format!("{}{unit}", trim_decimals(x));
            (s.clone(), quote(&s))
        } else if integral {
            let s = format!("{}", x.round() as i64);
            (s.clone(), s)
        } else {
            let s = format!("{x:?}");
            (s.clone(), s)
        };
        let number = if self.integer { x.round() } else { x };
        Level { label, overrides: self.path_override(value), number: Some(number) }
    }

    fn value_level(&self, v: &toml::Value) -> Level {
        match v {
            toml::Value::Integer(i) if self.unit.is_some() => self.number_level(*i as f64, true),
            toml::Value::Float(f) if self.unit.is_some() => self.number_level(*f, false),
            toml::Value::Integer(i) => Level { label: i.to_string(), overrides: self.path_override(i.to_string()), number: Some(*i as f64) },
            toml::Value::Float(f) => Level { label: format!("{f:?}"), overrides: self.path_override(format!("{f:?}")), number: Some(*f) },
            toml::Value::String(s) => Level { label: s.clone(), overrides: self.path_override(quote(s)), number: None },
            other => Level { label: other.to_string(), overrides: self.path_override(other.to_string()), number: None },
        }
    }

    fn path_override(&self, value: String) -> Vec<Override> {
        vec![Override { path: self.path.clone().expect("value axes have a path"), value }]
    }
}

/// `x` with at most 6 decimals (microseconds, for durations in seconds) and no trailing zeros.
fn trim_decimals(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A TOML basic string, so that `"30"` or `"true"` stay strings in an override.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// An experiment file, parsed and checked on its own (without the model: what `merge` needs).
#[derive(Clone, Debug)]
pub struct ExperimentSpec {
    /// The file as named on the command line (error messages only).
    pub file: String,
    /// The file's stem, e.g. `seed-advice`.
    pub name: String,
    pub text: String,
    pub description: String,
    /// `model`, as written (relative to the experiment file).
    pub model: String,
    pub seed: u64,
    pub replications: u32,
    pub common_random_numbers: bool,
    pub axes: Vec<Axis>,
    pub design: Design,
    pub set: Vec<Override>,
    /// Metrics kept per run: those listed (or the default set), then any a constraint or an
    /// objective needs.
    pub metrics: Vec<String>,
    pub constraints: Vec<Constraint>,
    pub objectives: Vec<Objective>,
    /// A point is feasible only if the upper 95 % Wilson bound of P(any constraint violated)
    /// is at most this (if set).
    pub max_violation_probability: Option<f64>,
    pub chunk_points: u64,
    points: u64,
    /// Latin hypercube: the stratum of each point, per axis.
    strata: Vec<Vec<u32>>,
}

/// Segments of a location in the experiment file (the model loader's path segments).
use crate::scenario::Seg;

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

impl ExperimentSpec {
    /// Reads an experiment file.
    pub fn read(path: &Path) -> Result<ExperimentSpec, ModelError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError {
            file: file.clone(),
            line: None,
            column: None,
            path: String::new(),
            message: format!("cannot read the experiment file: {e}"),
            hint: Some("experiments live under experiments/, e.g. experiments/tiny.toml".into()),
        })?;
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "experiment".into());
        ExperimentSpec::parse(&text, &file, &name)
    }

    /// Parses an experiment from its text. `file` is only used in messages.
    pub fn parse(text: &str, file: &str, name: &str) -> Result<ExperimentSpec, ModelError> {
        let doc = ImDocument::parse(text.to_string())
            .map_err(|e| ModelError::syntax(text, file, &e, "see the experiment format in src/sweep/experiment.rs or deploy/README.md"))?;
        let err = |segs: &[Seg], message: String, hint: Option<&str>| {
            let (line, column) = locate(doc.as_item(), segs).map(|o| line_col(text, o)).unzip();
            ModelError { file: file.into(), line, column, path: show(segs), message, hint: hint.map(String::from) }
        };

        let de = toml_edit::de::Deserializer::from(doc.clone());
        let raw: RawExperiment = serde_path_to_error::deserialize(de).map_err(|e| {
            let segs: Vec<Seg> = e
                .path()
                .iter()
                .filter_map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Some(Seg::Index(*index)),
                    serde_path_to_error::Segment::Map { key } => Some(Seg::Key(key.clone())),
                    _ => None,
                })
                .collect();
            let message = e.into_inner().message().trim().to_string();
            let hint = if message.starts_with("unknown field") {
                "remove the field or fix its spelling"
            } else if message.contains("did not match any variant") {
                "objective is a string (\"minimize latency.p99_ms\") or a list of them; from/to are numbers"
            } else {
                "see the experiment format in src/sweep/experiment.rs"
            };
            err(&segs, message, Some(hint))
        })?;

        if raw.replications == 0 {
            return Err(err(&[key("replications")], "must be at least 1".into(), None));
        }
        let design = match &raw.sampling {
            None => Design::Grid,
            Some(s) if s.points == 0 => return Err(err(&[key("sampling"), key("points")], "must be at least 1".into(), None)),
            Some(RawSampling { kind: SamplingKind::Random, points }) => Design::Random { points: *points },
            Some(RawSampling { kind: SamplingKind::LatinHypercube, points }) => Design::LatinHypercube { points: *points },
        };
        let grid = design == Design::Grid;

        let set = table_overrides(&raw.set);
        let mut axes = vec![];
        for (i, a) in raw.axes.iter().enumerate() {
            let here = |k: &str| vec![key("axis"), Seg::Index(i), key(k)];
            let given = [a.values.is_some(), a.linear.is_some(), a.log.is_some(), a.cases.is_some()].iter().filter(|x| **x).count();
            if given != 1 {
                return Err(err(
                    &[key("axis"), Seg::Index(i)],
                    format!("an axis needs exactly one of values, linear, log, cases ({given} given)"),
                    Some("e.g. values = [\"10s\", \"30s\"] or linear = { from = 1, to = 4, steps = 4 }"),
                ));
            }
            let domain = if let Some(cases) = &a.cases {
                if a.path.is_some() {
                    return Err(err(
                        &here("path"),
                        "a `cases` axis sets its fields in each case, not through `path`".into(),
                        Some("move the path into each case's set table"),
                    ));
                }
                if cases.is_empty() {
                    return Err(err(&here("cases"), "no cases".into(), None));
                }
                if a.name.is_none() {
                    return Err(err(&[key("axis"), Seg::Index(i)], "a `cases` axis needs a `name` (its column in the results)".into(), None));
                }
                Domain::Cases(cases.iter().map(|c| (c.label.clone(), table_overrides(&c.set))).collect())
            } else {
                if a.path.as_deref().is_none_or(|p| p.trim().is_empty()) {
                    return Err(err(
                        &[key("axis"), Seg::Index(i)],
                        "missing `path`: the model field this axis varies".into(),
                        Some("e.g. path = \"components.edge.deadline\""),
                    ));
                }
                if let Some(v) = &a.values {
                    if v.is_empty() {
                        return Err(err(&here("values"), "no values".into(), None));
                    }
                    Domain::Values(v.clone())
                } else {
                    let (which, r) = if let Some(r) = &a.linear { ("linear", r) } else { ("log", a.log.as_ref().expect("one given")) };
                    let (from, to) = (r.from.f64(), r.to.f64());
                    if !from.is_finite() || !to.is_finite() {
                        return Err(err(&here(which), "from and to must be finite".into(), None));
                    }
                    if which == "log" && (from <= 0.0 || to <= 0.0) {
                        return Err(err(&here(which), "a log axis needs from > 0 and to > 0".into(), None));
                    }
                    match (grid, r.steps) {
                        (true, None) | (true, Some(0)) => {
                            return Err(err(
                                &here(which),
                                "a grid axis needs steps >= 1".into(),
                                Some("e.g. linear = { from = 1, to = 4, steps = 4 }; or add [sampling] to sample the range"),
                            ))
                        }
                        (false, Some(_)) => return Err(err(&here(which), "steps is for grids; a sampled axis is a range { from, to }".into(), None)),
                        _ => {}
                    }
                    let int_ends = matches!((r.from, r.to), (Number::Int(_), Number::Int(_)));
                    if which == "linear" {
                        Domain::Linear { from, to, steps: r.steps, int_ends }
                    } else {
                        Domain::Log { from, to, steps: r.steps, int_ends }
                    }
                }
            };
            let name = a.name.clone().or_else(|| a.path.clone()).expect("a name or a path, checked above");
            axes.push(Axis { name, path: a.path.clone(), domain, unit: a.unit.clone(), integer: a.integer.unwrap_or(false) });
        }
        for i in 0..axes.len() {
            if let Some(j) = axes[..i].iter().position(|b| b.name == axes[i].name) {
                return Err(err(
                    &[key("axis"), Seg::Index(i)],
                    format!("axis `{}` is already axis {j}", axes[i].name),
                    Some("give one of them a distinct `name`"),
                ));
            }
            if ["point", "replication", "seed", "error"].contains(&axes[i].name.as_str()) {
                return Err(err(&[key("axis"), Seg::Index(i)], format!("`{}` is a results column; name the axis otherwise", axes[i].name), None));
            }
        }

        let points = match &design {
            Design::Grid => axes.iter().try_fold(1u64, |acc, a| acc.checked_mul(a.grid_len())).filter(|n| *n <= 1_000_000_000),
            Design::Random { points } => Some(*points).filter(|n| *n <= 1_000_000_000),
            // The strata are held in memory (4 bytes per point and axis).
            Design::LatinHypercube { points } => Some(*points).filter(|n| *n <= 10_000_000),
        }
        .ok_or_else(|| {
            err(&[key("axis")], "too many points (at most 10^9; 10^7 for a latin hypercube)".into(), Some("use [sampling] with fewer points, or fewer levels"))
        })?;

        let mut constraints = vec![];
        for (i, c) in raw.constraints.iter().enumerate() {
            constraints.push(Constraint::parse(c).map_err(|m| {
                err(
                    &[key("constraints"), Seg::Index(i)],
                    m,
                    Some("a constraint is `metric op number`, joined by &&, e.g. \"family_revocations == 0 && latency.p99_ms <= 20000\""),
                )
            })?);
        }
        let (objective_texts, objective_list) = match raw.objective {
            None => (vec![], false),
            Some(OneOrMany::One(s)) => (vec![s], false),
            Some(OneOrMany::Many(v)) => (v, true),
        };
        let mut objectives = vec![];
        for (i, o) in objective_texts.iter().enumerate() {
            let at = if objective_list { vec![key("objective"), Seg::Index(i)] } else { vec![key("objective")] };
            objectives.push(Objective::parse(o).map_err(|m| err(&at, m, Some("e.g. objective = \"minimize latency.p99_ms\"")))?);
        }
        if let Some(p) = raw.max_violation_probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(err(&[key("max_violation_probability")], "a probability is between 0 and 1".into(), None));
            }
        }
        let mut metrics: Vec<String> = match &raw.metrics {
            Some(m) => m.clone(),
            None => DEFAULT_METRICS.iter().map(|s| s.to_string()).collect(),
        };
        let needed = constraints.iter().flat_map(|c| c.metrics().map(String::from).collect::<Vec<_>>()).chain(objectives.iter().map(|o| o.metric.clone()));
        for m in needed {
            if !metrics.contains(&m) {
                metrics.push(m);
            }
        }
        if let Some(d) = metrics.iter().enumerate().find_map(|(i, m)| metrics[..i].contains(m).then_some(m)) {
            return Err(err(&[key("metrics")], format!("`{d}` is listed twice"), None));
        }
        if let Some(m) = metrics.iter().find(|m| axes.iter().any(|a| &a.name == *m)) {
            return Err(err(&[key("metrics")], format!("`{m}` is both an axis and a metric"), Some("give the axis a `name`")));
        }
        if raw.chunk == Some(0) {
            return Err(err(&[key("chunk")], "must be at least 1".into(), None));
        }
        let chunk_points = raw.chunk.unwrap_or_else(|| RUNS_PER_CHUNK.div_ceil(raw.replications as u64).max(1));

        let strata = match design {
            Design::LatinHypercube { points } => (0..axes.len())
                .map(|a| {
                    // Fisher-Yates with the experiment's own stream, so the design depends on
                    // nothing but the file.
                    let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(derive_seed(raw.seed, &format!("lhs/axis/{a}")));
                    let mut perm: Vec<u32> = (0..points as u32).collect();
                    for i in (1..perm.len()).rev() {
                        // Drawn as u64 so the design is the same on 32- and 64-bit machines.
                        perm.swap(i, rng.gen_range(0..=i as u64) as usize);
                    }
                    perm
                })
                .collect(),
            _ => vec![],
        };

        Ok(ExperimentSpec {
            file: file.into(),
            name: name.into(),
            text: text.into(),
            description: raw.description,
            model: raw.model,
            seed: raw.seed,
            replications: raw.replications,
            common_random_numbers: raw.common_random_numbers,
            axes,
            design,
            set,
            metrics,
            constraints,
            objectives,
            max_violation_probability: raw.max_violation_probability,
            chunk_points,
            points,
            strata,
        })
    }

    pub fn points(&self) -> u64 {
        self.points
    }

    pub fn runs(&self) -> u64 {
        self.points * self.replications as u64
    }

    pub fn chunks(&self) -> u64 {
        self.points.div_ceil(self.chunk_points)
    }

    /// The points of chunk `c`.
    pub fn chunk_points(&self, c: u64) -> std::ops::Range<u64> {
        let start = c * self.chunk_points;
        start..(start + self.chunk_points).min(self.points)
    }

    /// The levels of point `p`, one per axis.
    pub fn point(&self, p: u64) -> Vec<Level> {
        match self.design {
            Design::Grid => {
                // Mixed radix, last axis fastest.
                let mut rest = p;
                let mut out: Vec<Level> = self
                    .axes
                    .iter()
                    .rev()
                    .map(|a| {
                        let n = a.grid_len();
                        let l = a.grid_level(rest % n);
                        rest /= n;
                        l
                    })
                    .collect();
                out.reverse();
                out
            }
            Design::Random { .. } => {
                self.axes.iter().enumerate().map(|(a, axis)| axis.sampled_level(unit_draw(self.seed, &format!("random/{p}/{a}")))).collect()
            }
            Design::LatinHypercube { points } => self
                .axes
                .iter()
                .enumerate()
                .map(|(a, axis)| {
                    let u = (self.strata[a][p as usize] as f64 + unit_draw(self.seed, &format!("lhs/{p}/{a}"))) / points as f64;
                    axis.sampled_level(u.min(1.0 - f64::EPSILON))
                })
                .collect(),
        }
    }

    /// The overrides of a point: `set` first, then each axis in order (a later one wins).
    pub fn overrides(&self, levels: &[Level]) -> Vec<Override> {
        self.set.iter().cloned().chain(levels.iter().flat_map(|l| l.overrides.iter().cloned())).collect()
    }

    /// The master seed of replication `r` of point `p` (see the module docs).
    pub fn run_seed(&self, p: u64, r: u32) -> u64 {
        if self.common_random_numbers {
            derive_seed(self.seed, &format!("rep/{r}"))
        } else {
            derive_seed(self.seed, &format!("point/{p}/rep/{r}"))
        }
    }

    /// The header of `results.csv`.
    pub fn results_header(&self) -> Vec<String> {
        let mut h: Vec<String> = ["point", "replication", "seed"].iter().map(|s| s.to_string()).collect();
        h.extend(self.axes.iter().map(|a| a.name.clone()));
        h.extend(self.metrics.iter().cloned());
        h.push("error".into());
        h
    }

    fn error_at(&self, segs: &[Seg], message: String, hint: Option<String>) -> ModelError {
        let doc = ImDocument::parse(self.text.clone()).ok();
        let (line, column) = doc.and_then(|d| locate(d.as_item(), segs)).map(|o| line_col(&self.text, o)).unzip();
        ModelError { file: self.file.clone(), line, column, path: show(segs), message, hint }
    }
}

/// A uniform draw in [0, 1) that depends only on (seed, label): any point can be computed alone,
/// whichever shard or thread asks for it.
fn unit_draw(seed: u64, label: &str) -> f64 {
    (derive_seed(seed, &format!("sample/{label}")) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn table_overrides(t: &toml::Table) -> Vec<Override> {
    t.iter().map(|(k, v)| Override { path: k.clone(), value: v.to_string() }).collect()
}

/// An experiment with its model: ready to run.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub spec: ExperimentSpec,
    pub model_file: String,
    pub model_text: String,
    /// blake3 of the experiment, the model and the edgesim version: what a resumed or merged
    /// sweep must share.
    pub hash: String,
}

impl Experiment {
    /// Reads an experiment file and its model, and checks every axis against the model: each
    /// level of each axis (both ends of a sampled range) is loaded with the other axes at their
    /// first level, so a misspelt path or a value the model refuses fails here, naming the axis,
    /// rather than in every run.
    pub fn load(path: &Path) -> Result<Experiment, ModelError> {
        let spec = ExperimentSpec::read(path)?;
        let model_path = path.parent().unwrap_or(Path::new("")).join(&spec.model);
        let model_file = model_path.display().to_string();
        let model_text = std::fs::read_to_string(&model_path).map_err(|e| {
            spec.error_at(&[key("model")], format!("cannot read the model `{model_file}`: {e}"), Some("`model` is relative to the experiment file".into()))
        })?;
        let hash = experiment_hash(&spec.text, &model_text);
        let exp = Experiment { spec, model_file, model_text, hash };
        exp.check_against_model()?;
        Ok(exp)
    }

    /// Loads the model of a point.
    pub fn model_at(&self, levels: &[Level]) -> Result<crate::model::config::Model, ModelError> {
        scenario::load_str(&self.model_text, &self.model_file, &self.spec.overrides(levels))
    }

    fn check_against_model(&self) -> Result<(), ModelError> {
        let spec = &self.spec;
        let load = |ov: &[Override]| scenario::load_str(&self.model_text, &self.model_file, ov);
        let explain = |e: &ModelError| {
            let at = match e.line {
                Some(l) => format!("{}:{l}", e.file),
                None => e.file.clone(),
            };
            let field = if e.path.is_empty() { String::new() } else { format!(" in `{}`", e.path) };
            format!("{}{field} ({at})", e.message)
        };
        let hint = |e: &ModelError| {
            Some(match &e.hint {
                Some(h) => format!("{h}; `edgesim validate {} --set PATH=VALUE` shows the same error", self.model_file),
                None => format!("`edgesim validate {} --set PATH=VALUE` shows the same error", self.model_file),
            })
        };
        if let Err(e) = load(&spec.set) {
            let seg = spec.set.iter().find(|o| e.path.is_empty() || e.path.starts_with(o.path.as_str())).map(|o| o.path.clone());
            let mut segs = vec![key("set")];
            segs.extend(seg.map(Seg::Key));
            return Err(spec.error_at(&segs, format!("the model refuses the fixed overrides: {}", explain(&e)), hint(&e)));
        }
        let first: Vec<Level> = spec.axes.iter().map(|a| a.levels_to_check(&spec.design).swap_remove(0)).collect();
        for (i, axis) in spec.axes.iter().enumerate() {
            for (j, level) in axis.levels_to_check(&spec.design).into_iter().enumerate() {
                let mut levels = first.clone();
                levels[i] = level;
                if let Err(e) = load(&spec.overrides(&levels)) {
                    let segs = axis_location(axis, i, j, &e);
                    let what = match &axis.path {
                        Some(p) if e.message.starts_with("unknown field") => format!("axis path `{p}` names no model field"),
                        Some(p) => format!("the model refuses `{p}` = {}", levels[i].label),
                        None => format!("the model refuses case `{}` of axis `{}`", levels[i].label, axis.name),
                    };
                    return Err(spec.error_at(&segs, format!("{what}: {}", explain(&e)), hint(&e)));
                }
            }
        }
        self.check_metrics(&first)
    }

    /// Metric names must be keys of the flattened summary. The keys are taken from a 1 s run
    /// of the first point (`outcomes.*` keys exist only for statuses that occurred, so any
    /// `outcomes.<status>` is accepted).
    fn check_metrics(&self, first: &[Level]) -> Result<(), ModelError> {
        let spec = &self.spec;
        let Ok(model) = self.model_at(first) else { return Ok(()) };
        let opts = crate::model::world::RunOptions { seed: Some(spec.seed), duration: Some(crate::engine::SimDuration::from_secs(1)), ..Default::default() };
        let Ok(summary) = crate::run(model, opts) else { return Ok(()) };
        let keys: Vec<String> = crate::report::flatten(&summary).into_iter().map(|(k, _)| k).collect();
        let known = |m: &str| keys.iter().any(|k| k == m) || is_outcome_key(m);
        // Where the metric is named in the file: a constraint, the objective, or `metrics`.
        let listed = |m: &str| -> Vec<Seg> {
            if let Some(i) = spec.constraints.iter().position(|c| c.metrics().any(|x| x == m)) {
                vec![key("constraints"), Seg::Index(i)]
            } else if let Some(i) = spec.objectives.iter().position(|o| o.metric == m) {
                if spec.objectives.len() > 1 {
                    vec![key("objective"), Seg::Index(i)]
                } else {
                    vec![key("objective")]
                }
            } else {
                vec![key("metrics"), Seg::Index(spec.metrics.iter().position(|x| x == m).unwrap_or(0))]
            }
        };
        for m in &spec.metrics {
            if !known(m) {
                let near = nearest(m, &keys);
                return Err(spec.error_at(
                    &listed(m),
                    format!("unknown metric `{m}`"),
                    Some(format!("did you mean {}? `edgesim run {} --format csv` lists every metric", near.join(", "), self.model_file)),
                ));
            }
        }
        Ok(())
    }
}

/// Keys of an outcome count (`outcomes.502`, `orgs.B.outcomes.401`): absent from a run's
/// summary when the status never occurred, which means 0.
pub fn is_outcome_key(m: &str) -> bool {
    let parts: Vec<&str> = m.split('.').collect();
    parts.len() >= 2 && parts[parts.len() - 2] == "outcomes"
}

pub(crate) fn experiment_hash(experiment: &str, model: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"edgesim/sweep/v1\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(b"\0");
    h.update(&(experiment.len() as u64).to_le_bytes());
    h.update(experiment.as_bytes());
    h.update(model.as_bytes());
    h.finalize().to_hex().to_string()
}

fn axis_location(axis: &Axis, i: usize, j: usize, e: &ModelError) -> Vec<Seg> {
    let base = [key("axis"), Seg::Index(i)];
    let with = |extra: Vec<Seg>| base.iter().cloned().chain(extra).collect();
    if axis.path.is_some() && e.message.starts_with("unknown field") {
        return with(vec![key("path")]);
    }
    match &axis.domain {
        Domain::Values(_) => with(vec![key("values"), Seg::Index(j)]),
        Domain::Cases(_) => with(vec![key("cases"), Seg::Index(j)]),
        Domain::Linear { .. } => with(vec![key("linear")]),
        Domain::Log { .. } => with(vec![key("log")]),
    }
}

/// Up to three keys closest to `m` by edit distance.
fn nearest(m: &str, keys: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = keys.iter().map(|k| (edit_distance(m, k), k)).collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, k)| format!("`{k}`")).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn show(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if k.contains('.') => s.push_str(&format!(".\"{k}\"")),
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k)
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s.trim_start_matches('.').to_string()
}

/// Byte offset of the deepest part of `segs` present in the document: the model loader's
/// locator.
fn locate(root: &Item, segs: &[Seg]) -> Option<usize> {
    crate::scenario::locate_path(root, segs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Result<ExperimentSpec, ModelError> {
        ExperimentSpec::parse(text, "x.toml", "x")
    }

    #[test]
    fn grid_points_vary_the_last_axis_fastest() {
        let s = spec(
            r#"model = "m.toml"
[[axis]]
path = "a"
values = ["10s", "30s"]
[[axis]]
path = "b"
linear = { from = 1, to = 4, steps = 4 }
"#,
        )
        .unwrap();
        assert_eq!(s.points(), 8);
        let labels = |p| s.point(p).into_iter().map(|l| l.label).collect::<Vec<_>>();
        assert_eq!(labels(0), ["10s", "1"]);
        assert_eq!(labels(3), ["10s", "4"]);
        assert_eq!(labels(4), ["30s", "1"]);
        // Strings are quoted in overrides so they stay strings.
        assert_eq!(s.point(0)[0].overrides[0].value, "\"10s\"");
    }

    #[test]
    fn ranges_render_units_and_floats() {
        let s = spec(
            r#"model = "m.toml"
[[axis]]
path = "d"
log = { from = 1, to = 100, steps = 3 }
unit = "s"
[[axis]]
path = "r"
linear = { from = 0.5, to = 1.5, steps = 3 }
"#,
        )
        .unwrap();
        let l: Vec<String> = (0..3).map(|i| s.point(i * 3)[0].label.clone()).collect();
        assert_eq!(l, ["1s", "10s", "100s"]);
        let s2 = spec("model = \"m.toml\"\n[[axis]]\npath = \"n\"\nlog = { from = 1, to = 1000, steps = 4 }\n").unwrap();
        let l: Vec<String> = (0..4).map(|i| s2.point(i)[0].label.clone()).collect();
        assert_eq!(l, ["1", "10", "100", "1000"]);
        let r: Vec<String> = (0..3).map(|i| s.point(i)[1].label.clone()).collect();
        assert_eq!(r, ["0.5", "1.0", "1.5"]);
    }

    #[test]
    fn latin_hypercube_uses_every_stratum_once() {
        let s = spec(
            r#"model = "m.toml"
seed = 3
[sampling]
kind = "latin-hypercube"
points = 50
[[axis]]
path = "a"
linear = { from = 0, to = 1 }
[[axis]]
path = "b"
log = { from = 1, to = 1000 }
"#,
        )
        .unwrap();
        let mut strata_a = vec![0; 50];
        let mut strata_b = vec![0; 50];
        for p in 0..50 {
            let pt = s.point(p);
            strata_a[(pt[0].number.unwrap() * 50.0) as usize] += 1;
            strata_b[(pt[1].number.unwrap().log10() / 3.0 * 50.0) as usize] += 1;
        }
        assert!(strata_a.iter().all(|c| *c == 1), "{strata_a:?}");
        assert!(strata_b.iter().all(|c| *c == 1), "{strata_b:?}");
        // Reproducible from the file alone.
        let again = spec(&s.text).unwrap();
        assert_eq!(again.point(17), s.point(17));
    }

    #[test]
    fn bad_files_name_the_field_and_line() {
        let e = spec("model = \"m.toml\"\n[[axis]]\npath = \"a\"\nvalues = [1]\nlinear = { from = 1, to = 2, steps = 2 }\n").unwrap_err();
        assert_eq!(e.path, "axis[0]");
        assert_eq!(e.line, Some(2));
        let e = spec("model = \"m.toml\"\nreplicatons = 3\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("unknown field"), "{e}");
        let e = spec("model = \"m.toml\"\n[[axis]]\ncases = [{ label = \"a\" }]\n").unwrap_err();
        assert!(e.message.contains("name"), "{e}");
        let e = spec("model = \"m.toml\"\nconstraints = [\"a <= x\"]\n").unwrap_err();
        assert_eq!(e.path, "constraints[0]");
        let e = spec("model = \"m.toml\"\n[[axis]]\npath = \"a\"\nlinear = { from = 1, to = 2 }\n").unwrap_err();
        assert!(e.message.contains("steps"), "{e}");
        assert_eq!(e.path, "axis[0].linear");
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn constraint_and_objective_metrics_are_kept() {
        let s = spec("model = \"m.toml\"\nmetrics = [\"success_rate\"]\nconstraints = [\"x == 0 && success_rate > 0.5\"]\nobjective = [\"minimize y\", \"maximize success_rate\"]\n").unwrap();
        assert_eq!(s.metrics, ["success_rate", "x", "y"]);
        assert_eq!(s.objectives.len(), 2);
    }

    #[test]
    fn edit_distance_works() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
    }
}
