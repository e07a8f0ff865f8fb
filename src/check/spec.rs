//! The ranges a check draws cases from: the optional `[check]` table of a model file, and the
//! same ranges given on the command line (which win).
//!
//! The `[check]` table is not part of the model (`model::config::Model` refuses unknown fields):
//! it is read from the raw TOML here and blanked out of the text (every character but newlines
//! becomes a space) before the model is loaded, so errors in the rest of the file keep their
//! line and column.

use super::case::{BurstRange, CaseSpace, FaultKind, FaultRange, Milli, SettingRange, SettingValues};
use crate::engine::{parse_duration, SimDuration};
use crate::model::config::{ComponentConfig, Model};
use crate::model::workload::Arrivals;
use crate::scenario::error::line_col;
use crate::scenario::ModelError;
use toml_edit::{ImDocument, Item, Table, TableLike, Value};

/// Ranges as declared, before they are checked against the model. Every field is optional; the
/// command line's fields replace the table's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawSpace {
    pub cases: Option<u32>,
    pub seeds: Option<(u64, u64)>,
    pub load: Option<(Milli, Milli)>,
    pub burst_count: Option<(u32, u32)>,
    pub burst_at: Option<(SimDuration, SimDuration)>,
    pub burst_workload: Option<usize>,
    pub fault_target: Option<(String, FaultKind)>,
    pub fault_intensity: Option<(Milli, Milli)>,
    pub fault_start: Option<(SimDuration, SimDuration)>,
    pub fault_length: Option<(SimDuration, SimDuration)>,
    pub settings: Vec<SettingRange>,
    pub properties: Vec<String>,
    pub max_shrink_iters: Option<u32>,
}

impl RawSpace {
    /// `self` with every field `over` sets replaced (settings: by path).
    pub fn overlay(mut self, over: RawSpace) -> RawSpace {
        macro_rules! take {
            ($($f:ident),*) => { $( if over.$f.is_some() { self.$f = over.$f; } )* };
        }
        take!(cases, seeds, load, burst_count, burst_at, burst_workload, fault_target, fault_intensity, fault_start, fault_length, max_shrink_iters);
        for s in over.settings {
            self.settings.retain(|x| x.path != s.path);
            self.settings.push(s);
        }
        if !over.properties.is_empty() {
            self.properties = over.properties;
        }
        self
    }

    /// Checks the ranges against the model and fills defaults: seeds 1..1 000 000, burst and
    /// fault start times anywhere in the arrival period.
    pub fn finish(&self, model: &Model) -> Result<CaseSpace, String> {
        let duration = model.simulation.duration;
        let mut space = CaseSpace { seeds: self.seeds.unwrap_or((1, 1_000_000)), load: self.load, ..Default::default() };
        let burst_set = self.burst_count.is_some() || self.burst_at.is_some() || self.burst_workload.is_some();
        if burst_set {
            let count =
                self.burst_count.ok_or("a burst range needs `count`, e.g. burst = { count = [0, 200], at = [\"0s\", \"10m\"] } or --burst-count 0..200")?;
            let ix = match self.burst_workload {
                Some(i) => match model.workload.get(i).map(|w| &w.arrivals) {
                    Some(Arrivals::Burst { .. }) => i,
                    Some(_) => return Err(format!("burst.workload = {i}: workload[{i}] is not a burst workload")),
                    None => return Err(format!("burst.workload = {i}: the model has {} workloads", model.workload.len())),
                },
                None => model.workload.iter().position(|w| matches!(w.arrivals, Arrivals::Burst { .. })).ok_or(
                    "a burst range varies a burst workload of the model, and it has none; add one, e.g.\n  [[workload]]\n  org = \"A\"\n  target = \"edge\"\n  arrivals = { kind = \"burst\", at = \"0s\", count = 0, spread = \"1s\" }",
                )?,
            };
            let _ = ix;
            space.burst = Some(BurstRange { workload: self.burst_workload, count, at: self.burst_at.unwrap_or((SimDuration::ZERO, duration)) });
        }
        let fault_set = self.fault_target.is_some() || self.fault_intensity.is_some() || self.fault_start.is_some() || self.fault_length.is_some();
        if fault_set {
            let (component, kind) = self
                .fault_target
                .clone()
                .ok_or("a fault range needs `component` and `kind`, e.g. fault = { component = \"idp\", kind = \"slow\", ... } or --fault idp:slow")?;
            match (model.components.get(&component), kind) {
                (None, _) => {
                    return Err(format!(
                        "fault component `{component}` is not a component of the model ({})",
                        model.components.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                }
                (Some(c), FaultKind::Restart | FaultKind::Errors) if !matches!(c, ComponentConfig::Service(_)) => {
                    return Err(format!("a `{}` fault applies to a service; `{component}` is a {}", kind.name(), c.kind_name()))
                }
                _ => {}
            }
            let intensity = match kind {
                FaultKind::Restart => (Milli(0), Milli(0)),
                _ => self.fault_intensity.ok_or_else(|| {
                    let n = kind.intensity_name().expect("slow or errors");
                    format!(
                        "a `{}` fault range needs `{n}`, e.g. {n} = {} (or --fault-{n} {})",
                        kind.name(),
                        if kind == FaultKind::Slow { "[1.0, 20.0]" } else { "[0.0, 0.5]" },
                        if kind == FaultKind::Slow { "1..20" } else { "0..0.5" }
                    )
                })?,
            };
            if kind == FaultKind::Slow && intensity.0 == Milli(0) {
                return Err("a slow-down factor must be above 0 (1.0 is no slow-down)".into());
            }
            if kind == FaultKind::Errors && intensity.1 > Milli::ONE {
                return Err("an error rate is at most 1.0".into());
            }
            let length = self.fault_length.ok_or("a fault range needs `length`, e.g. length = [\"0s\", \"60s\"] (or --fault-length 0s..60s)")?;
            space.fault = Some(FaultRange { component, kind, intensity, start: self.fault_start.unwrap_or((SimDuration::ZERO, duration)), length });
        }
        space.settings = self.settings.clone();
        Ok(space)
    }
}

/// A scalar of a range, as written.
#[derive(Clone, Debug, PartialEq)]
enum Scalar {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Scalar {
    fn of_text(s: &str) -> Scalar {
        let s = s.trim();
        if let Ok(i) = s.parse::<i64>() {
            Scalar::Int(i)
        } else if let Ok(f) = s.parse::<f64>() {
            Scalar::Float(f)
        } else {
            Scalar::Str(s.to_string())
        }
    }
    fn of_value(v: &Value) -> Result<Scalar, String> {
        match v {
            Value::Integer(i) => Ok(Scalar::Int(*i.value())),
            Value::Float(f) => Ok(Scalar::Float(*f.value())),
            Value::String(s) => Ok(Scalar::Str(s.value().clone())),
            other => Err(format!("expected a number or a duration, found {}", other.type_name())),
        }
    }
    fn number(&self) -> Result<f64, String> {
        match self {
            Scalar::Int(i) => Ok(*i as f64),
            Scalar::Float(f) => Ok(*f),
            Scalar::Str(s) => Err(format!("expected a number, found \"{s}\"")),
        }
    }
    fn milli(&self) -> Result<Milli, String> {
        Milli::from_f64(self.number()?)
    }
    fn duration(&self) -> Result<SimDuration, String> {
        match self {
            Scalar::Str(s) => parse_duration(s),
            Scalar::Int(0) => Ok(SimDuration::ZERO),
            other => Err(format!("expected a duration with a unit such as \"30s\", found {}", other.number().unwrap_or_default())),
        }
    }
    fn int(&self) -> Result<i64, String> {
        match self {
            Scalar::Int(i) => Ok(*i),
            other => Err(format!("expected an integer, found {other:?}")),
        }
    }
}

type Pair = (Scalar, Scalar);

fn ordered<T: PartialOrd + std::fmt::Display>(a: T, b: T) -> Result<(T, T), String> {
    if a > b {
        Err(format!("the range {a}..{b} is empty: the low end comes first"))
    } else {
        Ok((a, b))
    }
}

fn pair_map<T: PartialOrd + std::fmt::Display>(p: &Pair, f: impl Fn(&Scalar) -> Result<T, String>) -> Result<(T, T), String> {
    ordered(f(&p.0)?, f(&p.1)?)
}

fn u32_range(p: &Pair) -> Result<(u32, u32), String> {
    pair_map(p, |s| s.int().and_then(|i| u32::try_from(i).map_err(|_| format!("{i} is out of range (0..{})", u32::MAX))))
}

fn seed_range(p: &Pair, single_means_count: bool) -> Result<(u64, u64), String> {
    let r = pair_map(p, |s| s.int().and_then(|i| u64::try_from(i).map_err(|_| format!("seed {i} must be >= 0"))))?;
    // `seeds = 1000` means the first thousand seeds.
    Ok(if single_means_count && r.0 == r.1 { (1, r.1.max(1)) } else { r })
}

/// A setting range: integers, numbers or durations (the bounds' type decides).
fn setting_values(p: &Pair) -> Result<SettingValues, String> {
    match p {
        (Scalar::Int(a), Scalar::Int(b)) => ordered(*a, *b).map(|(a, b)| SettingValues::Int(a, b)),
        (Scalar::Str(_), Scalar::Str(_)) | (Scalar::Int(0), Scalar::Str(_)) => pair_map(p, Scalar::duration)
            .map(|(a, b)| SettingValues::Duration(a, b))
            .map_err(|e| format!("{e} (vary takes numbers or durations; `choose` takes a list of values)")),
        _ => pair_map(p, Scalar::milli).map(|(a, b)| SettingValues::Number(a, b)),
    }
}

/// A `choose` value as `--set` text: TOML for numbers, booleans and tables; bare words for
/// strings unless the word would read as another TOML value.
fn choice_text(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let s = s.value();
            if format!("v = {s}").parse::<toml_edit::DocumentMut>().is_ok() {
                Value::from(s.as_str()).to_string().trim().to_string()
            } else {
                s.clone()
            }
        }
        other => {
            let mut o = other.clone();
            o.decor_mut().clear();
            o.to_string().trim().to_string()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Command-line ranges.

/// `LO..HI` or a single value.
fn text_pair(text: &str) -> Pair {
    match text.split_once("..") {
        Some((a, b)) => (Scalar::of_text(a), Scalar::of_text(b)),
        None => (Scalar::of_text(text), Scalar::of_text(text)),
    }
}

/// Parsers for the command-line flags; each error names the flag.
pub mod cli {
    use super::*;

    fn flag<T>(name: &str, r: Result<T, String>) -> Result<T, String> {
        r.map_err(|e| format!("--{name}: {e}"))
    }
    pub fn seeds(t: &str) -> Result<(u64, u64), String> {
        flag("seeds", seed_range(&text_pair(t), !t.contains("..")))
    }
    pub fn milli_range(name: &str, t: &str) -> Result<(Milli, Milli), String> {
        flag(name, pair_map(&text_pair(t), Scalar::milli))
    }
    pub fn duration_range(name: &str, t: &str) -> Result<(SimDuration, SimDuration), String> {
        flag(name, pair_map(&text_pair(t), Scalar::duration))
    }
    pub fn count_range(name: &str, t: &str) -> Result<(u32, u32), String> {
        flag(name, u32_range(&text_pair(t)))
    }
    /// `COMPONENT:KIND`, e.g. `idp:slow`.
    pub fn fault(t: &str) -> Result<(String, FaultKind), String> {
        let (c, k) = t.split_once(':').ok_or_else(|| format!("--fault: `{t}` is not COMPONENT:KIND (e.g. idp:slow, webhook:errors, webhook:restart)"))?;
        Ok((c.trim().to_string(), flag("fault", FaultKind::parse(k.trim()))?))
    }
    /// `PATH=LO..HI`.
    pub fn vary(t: &str) -> Result<SettingRange, String> {
        let (p, r) = t.split_once('=').ok_or_else(|| format!("--vary: `{t}` is not PATH=LO..HI (e.g. idp.grace=0s..60s)"))?;
        Ok(SettingRange { path: p.trim().to_string(), values: flag("vary", setting_values(&text_pair(r)))? })
    }
    /// `PATH=A,B,C`.
    pub fn choose(t: &str) -> Result<SettingRange, String> {
        let (p, r) =
            t.split_once('=').ok_or_else(|| format!("--choose: `{t}` is not PATH=A,B,... (e.g. webhook.token_cache.refresh=concurrent,single-flight)"))?;
        let values: Vec<String> = r.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if values.is_empty() {
            return Err(format!("--choose: `{t}` lists no value"));
        }
        Ok(SettingRange { path: p.trim().to_string(), values: SettingValues::OneOf(values) })
    }
}

// ---------------------------------------------------------------------------------------------
// The [check] table.

struct Reader<'a> {
    text: &'a str,
    file: &'a str,
}

impl Reader<'_> {
    fn error(&self, path: &str, span: Option<std::ops::Range<usize>>, message: String, hint: Option<&str>) -> ModelError {
        let (line, column) = span.map(|s| line_col(self.text, s.start)).unzip();
        ModelError { file: self.file.into(), line, column, path: path.into(), message, hint: hint.map(String::from) }
    }

    fn pair(&self, path: &str, item: &Item) -> Result<Pair, ModelError> {
        let v = item.as_value().ok_or_else(|| self.error(path, item.span(), "expected a value or a [low, high] pair".into(), None))?;
        let sp = v.span();
        let scalar = |v: &Value| {
            Scalar::of_value(v).map_err(|e| self.error(path, v.span().or(sp.clone()), e, Some("a range is [low, high], e.g. [0.5, 3.0] or [\"0s\", \"60s\"]")))
        };
        match v {
            Value::Array(a) if a.len() == 2 => Ok((scalar(a.get(0).expect("2"))?, scalar(a.get(1).expect("2"))?)),
            Value::Array(a) => Err(self.error(path, sp, format!("a range has two bounds, this list has {}", a.len()), Some("write [low, high]"))),
            other => {
                let s = scalar(other)?;
                Ok((s.clone(), s))
            }
        }
    }

    fn conv<T>(&self, path: &str, item: &Item, r: Result<T, String>) -> Result<T, ModelError> {
        r.map_err(|e| self.error(path, item.span().or_else(|| item.as_value().and_then(|v| v.span())), e, None))
    }

    fn string(&self, path: &str, item: &Item) -> Result<String, ModelError> {
        item.as_str().map(String::from).ok_or_else(|| self.error(path, item.as_value().and_then(|v| v.span()), "expected a string".into(), None))
    }

    fn read(&self, t: &dyn TableLike) -> Result<RawSpace, ModelError> {
        let mut raw = RawSpace::default();
        for (k, item) in t.iter() {
            let path = format!("check.{k}");
            let key_span = t.get_key_value(k).and_then(|(key, _)| key.span());
            match k {
                "cases" => raw.cases = Some(self.conv(&path, item, u32_range(&self.pair(&path, item)?))?.0),
                "max_shrink_iters" => raw.max_shrink_iters = Some(self.conv(&path, item, u32_range(&self.pair(&path, item)?))?.0),
                "seeds" => {
                    let single = item.as_value().is_some_and(|v| !v.is_array());
                    let p = self.pair(&path, item)?;
                    raw.seeds = Some(self.conv(&path, item, seed_range(&p, single))?);
                }
                "load" => raw.load = Some(self.conv(&path, item, pair_map(&self.pair(&path, item)?, Scalar::milli))?),
                "burst" => {
                    let b = item.as_table_like().ok_or_else(|| {
                        self.error(&path, key_span.clone(), "expected a table: burst = { count = [0, 200], at = [\"0s\", \"10m\"] }".into(), None)
                    })?;
                    for (bk, bi) in b.iter() {
                        let p = format!("{path}.{bk}");
                        match bk {
                            "count" => raw.burst_count = Some(self.conv(&p, bi, u32_range(&self.pair(&p, bi)?))?),
                            "at" => raw.burst_at = Some(self.conv(&p, bi, pair_map(&self.pair(&p, bi)?, Scalar::duration))?),
                            "workload" => {
                                raw.burst_workload = Some(self.conv(
                                    &p,
                                    bi,
                                    self.pair(&p, bi)?.0.int().and_then(|i| usize::try_from(i).map_err(|_| "an index is >= 0".to_string())),
                                )?)
                            }
                            other => {
                                return Err(self.error(
                                    &p,
                                    b.get_key_value(other).and_then(|(k, _)| k.span()),
                                    format!("unknown field `{other}`"),
                                    Some("burst takes count, at and workload (an index into [[workload]])"),
                                ))
                            }
                        }
                    }
                }
                "fault" => {
                    let f = item.as_table_like().ok_or_else(|| {
                        self.error(
                            &path,
                            key_span.clone(),
                            "expected a table: fault = { component = \"idp\", kind = \"slow\", factor = [1.0, 20.0], length = [\"0s\", \"60s\"] }".into(),
                            None,
                        )
                    })?;
                    let (mut component, mut kind) = (None, None);
                    for (fk, fi) in f.iter() {
                        let p = format!("{path}.{fk}");
                        match fk {
                            "component" => component = Some(self.string(&p, fi)?),
                            "kind" => kind = Some(self.conv(&p, fi, FaultKind::parse(&self.string(&p, fi)?))?),
                            "factor" | "rate" => raw.fault_intensity = Some(self.conv(&p, fi, pair_map(&self.pair(&p, fi)?, Scalar::milli))?),
                            "start" | "at" => raw.fault_start = Some(self.conv(&p, fi, pair_map(&self.pair(&p, fi)?, Scalar::duration))?),
                            "length" | "down_for" => raw.fault_length = Some(self.conv(&p, fi, pair_map(&self.pair(&p, fi)?, Scalar::duration))?),
                            other => {
                                return Err(self.error(
                                    &p,
                                    f.get_key_value(other).and_then(|(k, _)| k.span()),
                                    format!("unknown field `{other}`"),
                                    Some("fault takes component, kind (slow, errors, restart), factor (slow) or rate (errors), start and length"),
                                ))
                            }
                        }
                    }
                    match (component, kind) {
                        (Some(c), Some(k)) => raw.fault_target = Some((c, k)),
                        _ => {
                            return Err(self.error(
                                &path,
                                key_span.clone(),
                                "a fault range needs `component` and `kind`".into(),
                                Some("e.g. fault = { component = \"idp\", kind = \"slow\", factor = [1.0, 20.0], length = [\"0s\", \"60s\"] }"),
                            ))
                        }
                    }
                }
                "vary" => {
                    let v = item.as_table_like().ok_or_else(|| {
                        self.error(&path, key_span.clone(), "expected a table of ranges: vary = { \"idp.grace\" = [\"0s\", \"60s\"] }".into(), None)
                    })?;
                    for (sk, si) in v.iter() {
                        let p = format!("{path}.{sk}");
                        let values = self.conv(&p, si, setting_values(&self.pair(&p, si)?))?;
                        raw.settings.push(SettingRange { path: sk.to_string(), values });
                    }
                }
                "choose" => {
                    let v = item.as_table_like().ok_or_else(|| {
                        self.error(
                            &path,
                            key_span.clone(),
                            "expected a table of lists: choose = { \"webhook.token_cache.refresh\" = [\"concurrent\", \"single-flight\"] }".into(),
                            None,
                        )
                    })?;
                    for (sk, si) in v.iter() {
                        let p = format!("{path}.{sk}");
                        let arr = si
                            .as_array()
                            .filter(|a| !a.is_empty())
                            .ok_or_else(|| self.error(&p, si.as_value().and_then(|v| v.span()), "expected a non-empty list of values".into(), None))?;
                        raw.settings.push(SettingRange { path: sk.to_string(), values: SettingValues::OneOf(arr.iter().map(choice_text).collect()) });
                    }
                }
                "properties" => {
                    let arr = item.as_array().ok_or_else(|| {
                        self.error(
                            &path,
                            item.as_value().and_then(|v| v.span()),
                            "expected a list of strings".into(),
                            Some("properties = [\"no-family-revocation\", \"latency.p99_ms < 20000\"]"),
                        )
                    })?;
                    for v in arr.iter() {
                        raw.properties.push(v.as_str().map(String::from).ok_or_else(|| self.error(&path, v.span(), "expected a string".into(), None))?);
                    }
                }
                other => {
                    return Err(self.error(
                        &path,
                        key_span,
                        format!("unknown field `{other}`"),
                        Some("[check] takes cases, seeds, load, burst, fault, vary, choose, properties, max_shrink_iters (README, \"Property checks\")"),
                    ))
                }
            }
        }
        Ok(raw)
    }
}

/// Start offsets of every table header, and whether the table belongs to `[check]`.
fn headers(t: &Table, in_check: bool, depth: usize, out: &mut Vec<(usize, bool)>) {
    for (k, item) in t.iter() {
        let inside = in_check || (depth == 0 && k == "check");
        match item {
            Item::Table(sub) => {
                if let Some(s) = sub.span().filter(|_| !sub.is_implicit() && !sub.is_dotted()) {
                    out.push((s.start, inside));
                }
                headers(sub, inside, depth + 1, out);
            }
            Item::ArrayOfTables(a) => {
                for sub in a.iter() {
                    if let Some(s) = sub.span() {
                        out.push((s.start, inside));
                    }
                    headers(sub, inside, depth + 1, out);
                }
            }
            _ => {}
        }
    }
}

fn blank(text: &mut [u8], range: std::ops::Range<usize>) {
    for b in &mut text[range] {
        if *b != b'\n' && *b != b'\r' {
            *b = b' ';
        }
    }
}

/// Splits a model file into the model text (with `[check]` blanked out) and its ranges. A file
/// that is not valid TOML comes back unchanged, for the model loader to report.
pub fn split_check(text: &str, file: &str) -> Result<(String, RawSpace), ModelError> {
    let Ok(doc) = ImDocument::parse(text.to_string()) else { return Ok((text.to_string(), RawSpace::default())) };
    let Some((key, item)) = doc.as_table().get_key_value("check") else { return Ok((text.to_string(), RawSpace::default())) };
    let reader = Reader { text, file };
    let table = item
        .as_table_like()
        .ok_or_else(|| reader.error("check", key.span(), "`check` must be a table: [check]".into(), Some("see README.md, \"Property checks\"")))?;
    let raw = reader.read(table)?;
    let mut bytes = text.as_bytes().to_vec();
    match item {
        Item::Table(_) => {
            let mut hs = vec![];
            headers(doc.as_table(), false, 0, &mut hs);
            hs.sort();
            for (i, (start, inside)) in hs.iter().enumerate() {
                if *inside {
                    let end = hs.get(i + 1).map(|h| h.0).unwrap_or(text.len());
                    blank(&mut bytes, *start..end);
                }
            }
        }
        _ => {
            // `check = { ... }` or dotted keys at the top level: blank from the key to the end of
            // the value.
            let start = key.span().map(|s| s.start);
            let end = item.as_value().and_then(|v| v.span()).map(|s| s.end);
            match (start, end) {
                (Some(s), Some(e)) => blank(&mut bytes, s..e),
                _ => return Err(reader.error("check", key.span(), "write the ranges as a [check] table".into(), None)),
            }
        }
    }
    let stripped = String::from_utf8(bytes).expect("only ASCII bytes were replaced, on character boundaries");
    Ok((stripped, raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = r#"description = "x"

[check]
cases = 10
seeds = 100
load = [0.5, 3.0]
properties = [
  "no-family-revocation",
]

[check.fault]
component = "idp"
kind = "slow"
factor = [1, 20]
length = ["0s", "60s"]

[simulation]
duration = "1m"

[check.vary]
"idp.grace" = ["0s", "60s"]
"webhook.workers" = [1, 8]

[[org]]
name = "A"
"#;

    #[test]
    fn reads_and_blanks_the_check_table() {
        let (text, raw) = split_check(MODEL, "m.toml").unwrap();
        assert_eq!(text.lines().count(), MODEL.lines().count(), "lines are kept");
        assert!(!text.contains("check") && !text.contains("idp"), "{text}");
        assert!(text.contains("[simulation]") && text.contains("[[org]]") && text.contains("duration = \"1m\""));
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        assert!(doc.get("check").is_none());
        assert_eq!(line_col(&text, text.find("[[org]]").unwrap()).0, line_col(MODEL, MODEL.find("[[org]]").unwrap()).0);
        assert_eq!(raw.cases, Some(10));
        assert_eq!(raw.seeds, Some((1, 100)));
        assert_eq!(raw.load, Some((Milli(500), Milli(3000))));
        assert_eq!(raw.fault_target, Some(("idp".into(), FaultKind::Slow)));
        assert_eq!(raw.fault_intensity, Some((Milli(1000), Milli(20000))));
        assert_eq!(raw.fault_length, Some((SimDuration::ZERO, SimDuration::from_secs(60))));
        assert_eq!(raw.properties, vec!["no-family-revocation".to_string()]);
        assert_eq!(raw.settings[0], SettingRange { path: "idp.grace".into(), values: SettingValues::Duration(SimDuration::ZERO, SimDuration::from_secs(60)) });
        assert_eq!(raw.settings[1].values, SettingValues::Int(1, 8));
    }

    #[test]
    fn errors_are_located() {
        let text = "[simulation]\nduration = \"1m\"\n\n[check]\nload = [3.0, 0.5]\n";
        let e = split_check(text, "m.toml").unwrap_err();
        assert_eq!((e.line, e.path.as_str()), (Some(5), "check.load"));
        assert!(e.message.contains("empty"), "{e}");
        let e = split_check("[check]\nlaod = 1\n", "m.toml").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.to_string().contains("unknown field `laod`"));
        let e = split_check("[check]\nfault = { kind = \"slow\" }\n", "m.toml").unwrap_err();
        assert!(e.message.contains("component"), "{e}");
    }

    #[test]
    fn choices_keep_their_type() {
        let (_, raw) = split_check("[check]\nchoose = { a = [\"concurrent\", \"true\", true, 3, { dist = \"exponential\", mean = \"1s\" }] }\n", "m").unwrap();
        let SettingValues::OneOf(v) = &raw.settings[0].values else { panic!() };
        assert_eq!(v, &["concurrent", "\"true\"", "true", "3", "{ dist = \"exponential\", mean = \"1s\" }"]);
    }

    #[test]
    fn command_line_ranges() {
        assert_eq!(cli::milli_range("load", "0.5..3").unwrap(), (Milli(500), Milli(3000)));
        assert_eq!(cli::duration_range("burst-at", "0s..10m").unwrap(), (SimDuration::ZERO, SimDuration::from_secs(600)));
        assert_eq!(cli::seeds("1000").unwrap(), (1, 1000));
        assert_eq!(cli::seeds("7..7").unwrap(), (7, 7));
        assert!(cli::milli_range("load", "3..1").unwrap_err().starts_with("--load"));
        assert_eq!(cli::fault("idp:slow").unwrap(), ("idp".into(), FaultKind::Slow));
        assert_eq!(cli::vary("idp.grace=0s..1m").unwrap().values, SettingValues::Duration(SimDuration::ZERO, SimDuration::from_secs(60)));
        assert_eq!(cli::vary("webhook.failure_rate=0..0.5").unwrap().values, SettingValues::Number(Milli(0), Milli(500)));
        assert_eq!(cli::choose("a=x,y").unwrap().values, SettingValues::OneOf(vec!["x".into(), "y".into()]));
    }
}
