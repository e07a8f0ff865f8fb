//! A case: one variation of a model (seed, load multiplier, burst, fault window, settings), the
//! space cases are drawn from, proptest strategies over that space, and the `--set` overrides
//! that turn a case into a model, so that every case replays with `edgesim run MODEL --seed N
//! --set ...`.
//!
//! Strategies shrink towards the smallest load, the shortest and mildest fault, the earliest
//! time and the smallest burst: the low end of each range. Seeds do not shrink (a smaller seed is
//! not a simpler run, only another one).

use crate::engine::SimDuration;
use crate::model::config::Model;
use crate::model::fault::FaultConfig;
use crate::model::workload::Arrivals;
use crate::scenario::Override;
use proptest::prelude::*;
use proptest::strategy::{BoxedStrategy, Just};
use std::fmt;

/// A non-negative number with three decimals (load multipliers, slow-down factors, error
/// rates): exact to print, so a printed case replays the same model.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Milli(pub u64);

impl Milli {
    pub const ONE: Milli = Milli(1000);

    /// Rounds to three decimals; refuses negative or non-finite numbers.
    pub fn from_f64(x: f64) -> Result<Milli, String> {
        if !x.is_finite() || x < 0.0 {
            return Err(format!("{x} must be a finite number >= 0"));
        }
        Ok(Milli((x * 1000.0).round() as u64))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl fmt::Display for Milli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (i, d) = (self.0 / 1000, self.0 % 1000);
        if d == 0 {
            write!(f, "{i}.0")
        } else {
            let s = format!("{d:03}");
            write!(f, "{i}.{}", s.trim_end_matches('0'))
        }
    }
}

impl fmt::Debug for Milli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The fault kinds a case can vary.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// The component's latency is multiplied by the intensity (`factor`).
    Slow,
    /// The service fails an extra share of requests: the intensity is the `rate`.
    Errors,
    /// The service restarts at `start` and stays down for `length` (no intensity).
    Restart,
}

impl FaultKind {
    pub fn parse(s: &str) -> Result<FaultKind, String> {
        match s {
            "slow" => Ok(FaultKind::Slow),
            "errors" => Ok(FaultKind::Errors),
            "restart" => Ok(FaultKind::Restart),
            other => Err(format!("unknown fault kind `{other}`; expected slow, errors or restart")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Slow => "slow",
            FaultKind::Errors => "errors",
            FaultKind::Restart => "restart",
        }
    }
    /// What the intensity is called in the model's `[[fault]]`.
    pub fn intensity_name(self) -> Option<&'static str> {
        match self {
            FaultKind::Slow => Some("factor"),
            FaultKind::Errors => Some("rate"),
            FaultKind::Restart => None,
        }
    }
}

/// The burst of a case: the model's burst workload gets `count` invocations at `at`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct BurstCase {
    /// Index into the model's `[[workload]]`; None: the first burst workload.
    pub workload: Option<usize>,
    pub count: u32,
    pub at: SimDuration,
}

/// The fault window of a case.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct FaultCase {
    pub component: String,
    pub kind: FaultKind,
    pub start: SimDuration,
    /// Zero: no fault (a window of the model of this kind is neutralised).
    pub length: SimDuration,
    /// Slow-down factor or error rate.
    pub intensity: Milli,
}

/// One variation of a model.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Case {
    /// The simulation's master seed.
    pub seed: u64,
    /// Multiplies every Poisson rate (and rate step) and every burst count of the model (a burst
    /// the case sets itself is not scaled). None: the model's load.
    pub load: Option<Milli>,
    pub burst: Option<BurstCase>,
    pub fault: Option<FaultCase>,
    /// Further `path=value` overrides (config ranges).
    pub settings: Vec<(String, String)>,
}

impl Case {
    /// The model's own load, no fault, no burst, no setting: only the seed.
    pub fn with_seed(seed: u64) -> Case {
        Case { seed, ..Default::default() }
    }

    /// The `--set` overrides that make this case out of `model` (the model without the case:
    /// its load, bursts and faults are the reference). The seed is not among them.
    pub fn overrides(&self, model: &Model) -> Result<Vec<Override>, String> {
        let mut out = vec![];
        let set = |out: &mut Vec<Override>, path: String, value: String| out.push(Override { path, value });
        let burst_ix = match &self.burst {
            None => None,
            Some(b) => {
                let ix = match b.workload {
                    Some(i) => {
                        match model.workload.get(i).map(|w| &w.arrivals) {
                            Some(Arrivals::Burst { .. }) => i,
                            Some(_) => return Err(format!("workload[{i}] is not a burst workload; a case's burst sets the count and time of a burst workload of the model")),
                            None => return Err(format!("workload[{i}] does not exist (the model has {})", model.workload.len())),
                        }
                    }
                    None => model.workload.iter().position(|w| matches!(w.arrivals, Arrivals::Burst { .. })).ok_or_else(|| {
                        "the model has no burst workload for the case's burst; add one, e.g. [[workload]] org = \"A\" target = \"edge\" arrivals = { kind = \"burst\", at = \"0s\", count = 0, spread = \"1s\" }".to_string()
                    })?,
                };
                Some(ix)
            }
        };
        if let Some(l) = self.load {
            let k = l.as_f64();
            for (i, w) in model.workload.iter().enumerate() {
                match &w.arrivals {
                    Arrivals::Poisson { rate, steps } => {
                        set(&mut out, format!("workload[{i}].arrivals.rate"), fmt_f64(rate * k));
                        for (j, st) in steps.iter().enumerate() {
                            set(&mut out, format!("workload[{i}].arrivals.steps[{j}].rate"), fmt_f64(st.rate * k));
                        }
                    }
                    Arrivals::Burst { count, .. } if Some(i) != burst_ix => {
                        set(&mut out, format!("workload[{i}].arrivals.count"), ((*count as f64 * k).round() as u64).to_string());
                    }
                    _ => {}
                }
            }
        }
        if let (Some(b), Some(i)) = (&self.burst, burst_ix) {
            set(&mut out, format!("workload[{i}].arrivals.count"), b.count.to_string());
            set(&mut out, format!("workload[{i}].arrivals.at"), b.at.to_string());
        }
        if let Some(f) = &self.fault {
            fault_overrides(f, model, &mut out)?;
        }
        for (p, v) in &self.settings {
            set(&mut out, p.clone(), v.clone());
        }
        Ok(out)
    }
}

/// Whether a fault of the model is the one a case's fault varies (same kind, same component).
fn same_fault(f: &FaultConfig, c: &FaultCase) -> bool {
    match (f, c.kind) {
        (FaultConfig::Slow { component, .. }, FaultKind::Slow) => *component == c.component,
        (FaultConfig::Errors { component, .. }, FaultKind::Errors) => *component == c.component,
        (FaultConfig::Restart { component, .. }, FaultKind::Restart) => *component == c.component,
        _ => false,
    }
}

fn fault_overrides(f: &FaultCase, model: &Model, out: &mut Vec<Override>) -> Result<(), String> {
    let end = SimDuration(f.start.micros() + f.length.micros());
    let intensity = f.kind.intensity_name();
    if let Some(i) = model.faults.iter().position(|m| same_fault(m, f)) {
        // Vary the model's own window.
        let mut set = |k: &str, v: String| out.push(Override { path: format!("fault[{i}].{k}"), value: v });
        match f.kind {
            FaultKind::Restart => {
                set("at", f.start.to_string());
                set("down_for", f.length.to_string());
            }
            _ if f.length.is_zero() => {
                // An empty window is not a valid [[fault]]: keep a 1 ms window that does nothing.
                set("start", f.start.to_string());
                set("end", SimDuration(f.start.micros() + 1000).to_string());
                set(intensity.expect("slow or errors"), if f.kind == FaultKind::Slow { "1.0".into() } else { "0.0".into() });
            }
            _ => {
                set("start", f.start.to_string());
                set("end", end.to_string());
                set(intensity.expect("slow or errors"), f.intensity.to_string());
            }
        }
        return Ok(());
    }
    if f.length.is_zero() && f.kind != FaultKind::Restart {
        return Ok(()); // no fault
    }
    // Append a window: the whole fault list is given again (a list cannot grow by index).
    let mut items: Vec<toml_edit::Value> = model.faults.iter().map(|m| fault_inline(m).map(toml_edit::Value::InlineTable)).collect::<Result<_, _>>()?;
    let new = match f.kind {
        FaultKind::Slow => FaultConfig::Slow { component: f.component.clone(), start: f.start, end, factor: f.intensity.as_f64() },
        FaultKind::Errors => FaultConfig::Errors { component: f.component.clone(), start: f.start, end, rate: f.intensity.as_f64(), malformed: false },
        FaultKind::Restart => FaultConfig::Restart { component: f.component.clone(), at: f.start, down_for: f.length },
    };
    items.push(toml_edit::Value::InlineTable(fault_inline(&new)?));
    let mut arr = toml_edit::Array::new();
    for v in items {
        arr.push_formatted(v.decorated(" ", " "));
    }
    arr.set_trailing("");
    let text = arr.to_string();
    out.push(Override { path: "fault".into(), value: text.trim().to_string() });
    Ok(())
}

/// A fault as an inline table, through its own serialization (so every kind, present and future,
/// comes out as the model file would write it).
fn fault_inline(f: &FaultConfig) -> Result<toml_edit::InlineTable, String> {
    let doc = toml_edit::ser::to_document(f).map_err(|e| format!("cannot write fault {f:?} as TOML: {e}"))?;
    let mut t = doc.as_table().clone().into_inline_table();
    t.fmt();
    Ok(t)
}

/// A float for a `--set` value: at most six decimals, always with a decimal point.
pub fn fmt_f64(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0');
    if s.ends_with('.') {
        format!("{s}0")
    } else {
        s.to_string()
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}", self.seed)?;
        if let Some(l) = self.load {
            write!(f, ", load x{l}")?;
        }
        if let Some(b) = &self.burst {
            write!(f, ", burst of {} at {}", b.count, b.at)?;
            if let Some(i) = b.workload {
                write!(f, " (workload[{i}])")?;
            }
        }
        if let Some(x) = &self.fault {
            if x.length.is_zero() && x.kind != FaultKind::Restart {
                write!(f, ", no {} fault on {}", x.kind.name(), x.component)?;
            } else {
                match x.kind {
                    FaultKind::Slow => write!(f, ", {} {} x{} from {} for {}", x.component, x.kind.name(), x.intensity, x.start, x.length)?,
                    FaultKind::Errors => write!(f, ", {} errors at rate {} from {} for {}", x.component, x.intensity, x.start, x.length)?,
                    FaultKind::Restart => write!(f, ", {} restart at {}, down for {}", x.component, x.start, x.length)?,
                }
            }
        }
        for (p, v) in &self.settings {
            write!(f, ", {p}={v}")?;
        }
        Ok(())
    }
}

/// Printed as the human description, so proptest's messages and regression files read well.
impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Case({self})")
    }
}

// ---------------------------------------------------------------------------------------------
// The space of cases.

/// A range of values for one model setting.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValues {
    Int(i64, i64),
    Number(Milli, Milli),
    Duration(SimDuration, SimDuration),
    /// One of these values (TOML values as text, or bare words); shrinks towards the first.
    OneOf(Vec<String>),
}

/// A config range: `path` takes a value from `values` (`vary` and `choose` in `[check]`).
#[derive(Clone, Debug, PartialEq)]
pub struct SettingRange {
    pub path: String,
    pub values: SettingValues,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BurstRange {
    pub workload: Option<usize>,
    pub count: (u32, u32),
    pub at: (SimDuration, SimDuration),
}

#[derive(Clone, Debug, PartialEq)]
pub struct FaultRange {
    pub component: String,
    pub kind: FaultKind,
    /// Factor (slow) or rate (errors); ignored for restarts.
    pub intensity: (Milli, Milli),
    pub start: (SimDuration, SimDuration),
    pub length: (SimDuration, SimDuration),
}

/// Where cases come from: every range is inclusive, `(low, high)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CaseSpace {
    pub seeds: (u64, u64),
    pub load: Option<(Milli, Milli)>,
    pub burst: Option<BurstRange>,
    pub fault: Option<FaultRange>,
    pub settings: Vec<SettingRange>,
}

impl Default for CaseSpace {
    fn default() -> Self {
        CaseSpace { seeds: (1, 1_000_000), load: None, burst: None, fault: None, settings: vec![] }
    }
}

impl CaseSpace {
    /// The case at the low end (`high = false`) or high end of every range, with seed `seed`.
    pub fn corner(&self, high: bool, seed: u64) -> Case {
        fn choose<T>(high: bool, lo: T, hi: T) -> T {
            if high {
                hi
            } else {
                lo
            }
        }
        macro_rules! pick {
            ($a:expr, $b:expr) => {
                choose(high, $a, $b)
            };
        }
        Case {
            seed,
            load: self.load.map(|(a, b)| pick!(a, b)),
            burst: self.burst.as_ref().map(|b| BurstCase { workload: b.workload, count: pick!(b.count.0, b.count.1), at: pick!(b.at.0, b.at.1) }),
            fault: self.fault.as_ref().map(|f| FaultCase {
                component: f.component.clone(),
                kind: f.kind,
                start: pick!(f.start.0, f.start.1),
                length: pick!(f.length.0, f.length.1),
                intensity: pick!(f.intensity.0, f.intensity.1),
            }),
            settings: self
                .settings
                .iter()
                .map(|s| {
                    let v = match &s.values {
                        SettingValues::Int(a, b) => pick!(*a, *b).to_string(),
                        SettingValues::Number(a, b) => pick!(*a, *b).to_string(),
                        SettingValues::Duration(a, b) => pick!(*a, *b).to_string(),
                        SettingValues::OneOf(v) => if high { v.last() } else { v.first() }.cloned().unwrap_or_default(),
                    };
                    (s.path.clone(), v)
                })
                .collect(),
        }
    }

    /// One line per range, for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut v = vec![if self.seeds.0 == self.seeds.1 { format!("seed {}", self.seeds.0) } else { format!("seeds {}..{}", self.seeds.0, self.seeds.1) }];
        if let Some((a, b)) = self.load {
            v.push(format!("load x{a}..x{b}"));
        }
        if let Some(b) = &self.burst {
            v.push(format!(
                "burst of {}..{} at {}..{}{}",
                b.count.0,
                b.count.1,
                b.at.0,
                b.at.1,
                b.workload.map(|i| format!(" (workload[{i}])")).unwrap_or_default()
            ));
        }
        if let Some(f) = &self.fault {
            let i = match f.kind.intensity_name() {
                Some(n) => format!(" {n} {}..{}", f.intensity.0, f.intensity.1),
                None => String::new(),
            };
            v.push(format!("fault {} {}{i} start {}..{} length {}..{}", f.component, f.kind.name(), f.start.0, f.start.1, f.length.0, f.length.1));
        }
        for s in &self.settings {
            v.push(match &s.values {
                SettingValues::Int(a, b) => format!("{} {a}..{b}", s.path),
                SettingValues::Number(a, b) => format!("{} {a}..{b}", s.path),
                SettingValues::Duration(a, b) => format!("{} {a}..{b}", s.path),
                SettingValues::OneOf(x) => format!("{} one of {}", s.path, x.join(", ")),
            });
        }
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Simulation seeds in `lo..=hi`; they do not shrink.
pub fn seeds(lo: u64, hi: u64) -> BoxedStrategy<u64> {
    (lo..=hi.max(lo)).no_shrink().boxed()
}

/// A multiplier or rate in `lo..=hi`, shrinking towards `lo`.
pub fn milli(lo: Milli, hi: Milli) -> BoxedStrategy<Milli> {
    (lo.0..=hi.0.max(lo.0)).prop_map(Milli).boxed()
}

/// A load multiplier in `lo..=hi` (e.g. 0.5 to 3.0), shrinking towards `lo`.
pub fn load(lo: f64, hi: f64) -> BoxedStrategy<Milli> {
    milli(Milli::from_f64(lo).expect("load lower bound >= 0"), Milli::from_f64(hi).expect("load upper bound >= 0"))
}

/// A duration in `lo..=hi` at millisecond resolution, shrinking towards `lo`.
pub fn duration(lo: SimDuration, hi: SimDuration) -> BoxedStrategy<SimDuration> {
    let a = lo.micros().div_ceil(1000);
    let b = (hi.micros() / 1000).max(a);
    (a..=b).prop_map(SimDuration::from_millis).boxed()
}

/// The model's burst workload with a count and a time in the ranges; shrinks towards the
/// smallest burst, then the earliest time.
pub fn burst(r: &BurstRange) -> BoxedStrategy<BurstCase> {
    let w = r.workload;
    ((r.count.0..=r.count.1.max(r.count.0)), duration(r.at.0, r.at.1)).prop_map(move |(count, at)| BurstCase { workload: w, count, at }).boxed()
}

/// A fault window; shrinks towards the shortest, then the mildest, then the earliest.
pub fn fault_window(r: &FaultRange) -> BoxedStrategy<FaultCase> {
    let (component, kind) = (r.component.clone(), r.kind);
    let intensity = if kind == FaultKind::Restart { Just(Milli(0)).boxed() } else { milli(r.intensity.0, r.intensity.1) };
    (duration(r.length.0, r.length.1), intensity, duration(r.start.0, r.start.1))
        .prop_map(move |(length, intensity, start)| FaultCase { component: component.clone(), kind, start, length, intensity })
        .boxed()
}

/// A value for one setting, as a `path=value` pair.
pub fn setting(r: &SettingRange) -> BoxedStrategy<(String, String)> {
    let path = r.path.clone();
    let values: BoxedStrategy<String> = match &r.values {
        SettingValues::Int(a, b) => (*a..=*b.max(a)).prop_map(|x| x.to_string()).boxed(),
        SettingValues::Number(a, b) => milli(*a, *b).prop_map(|x| x.to_string()).boxed(),
        SettingValues::Duration(a, b) => duration(*a, *b).prop_map(|x| x.to_string()).boxed(),
        SettingValues::OneOf(v) => {
            let v = v.clone();
            (0..v.len().max(1)).prop_map(move |i| v.get(i).cloned().unwrap_or_default()).boxed()
        }
    };
    values.prop_map(move |v| (path.clone(), v)).boxed()
}

/// Cases drawn from a space. Shrinking goes range by range: load, fault, burst, settings (the
/// seed does not shrink).
pub fn cases(space: &CaseSpace) -> BoxedStrategy<Case> {
    let load = match space.load {
        Some((a, b)) => milli(a, b).prop_map(Some).boxed(),
        None => Just(None).boxed(),
    };
    let fault = match &space.fault {
        Some(r) => fault_window(r).prop_map(Some).boxed(),
        None => Just(None).boxed(),
    };
    let burst = match &space.burst {
        Some(r) => self::burst(r).prop_map(Some).boxed(),
        None => Just(None).boxed(),
    };
    let settings: Vec<BoxedStrategy<(String, String)>> = space.settings.iter().map(setting).collect();
    (load, fault, burst, settings, seeds(space.seeds.0, space.seeds.1))
        .prop_map(|(load, fault, burst, settings, seed)| Case { seed, load, burst, fault, settings })
        .boxed()
}

/// Quotes a word for a POSIX shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// `edgesim run MODEL --seed N --set ...` for a case.
pub fn replay_command(model_file: &str, seed: u64, overrides: &[Override]) -> String {
    let mut words = vec!["edgesim".to_string(), "run".into(), shell_quote(model_file), "--seed".into(), seed.to_string()];
    for o in overrides {
        words.push("--set".into());
        words.push(shell_quote(&format!("{}={}", o.path, o.value)));
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milli_prints_exactly() {
        assert_eq!(Milli(1000).to_string(), "1.0");
        assert_eq!(Milli(1250).to_string(), "1.25");
        assert_eq!(Milli(500).to_string(), "0.5");
        assert_eq!(Milli(3).to_string(), "0.003");
        assert_eq!(Milli::from_f64(2.5).unwrap(), Milli(2500));
        assert!(Milli::from_f64(-1.0).is_err());
        assert_eq!(fmt_f64(2.0 * 1.1), "2.2");
        assert_eq!(fmt_f64(3.0), "3.0");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("idp.grace=30s"), "idp.grace=30s");
        assert_eq!(shell_quote("fault=[{ kind = \"slow\" }]"), "'fault=[{ kind = \"slow\" }]'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
