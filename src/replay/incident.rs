//! Incident files: a TOML header (`models/incidents/NAME.toml`) and a CSV of what was observed
//! (`models/incidents/NAME.csv`). The format is documented in `models/incidents/README.md`.
//!
//! Every problem is reported with its file, line and column. Credentials are looked for before
//! anything else so that no error message ever echoes one.

use super::secrets::{is_sensitive_name, scan_value, Finding};
use crate::engine::SimDuration;
use crate::model::fault::FaultConfig;
use crate::scenario::error::line_col;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The header of an incident: what to replay it against.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentHeader {
    /// One line shown in reports.
    #[serde(default)]
    pub description: String,
    /// The model file, relative to the header.
    pub model: String,
    /// The observations (CSV), relative to the header.
    pub observations: String,
    /// RFC 3339 instant of time zero (`time_s = 0` in the observations). Shown in reports only:
    /// the simulation runs on seconds from time zero.
    pub time_zero: String,
    /// The observation window: every recorded invocation is in `[0, duration)`; the replay's
    /// arrivals end here and the model's drain follows.
    pub duration: SimDuration,
    /// Seed of the replay (default: the model's; `--seed` overrides both).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Fault windows in force during the incident. When present (even empty) they replace the
    /// model's own `[[fault]]` list; when absent the model's faults apply.
    #[serde(default, rename = "fault")]
    pub faults: Option<Vec<FaultConfig>>,
}

/// One recorded invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Line in the observations file (1-based).
    pub line: usize,
    /// Seconds from time zero, as microseconds.
    pub time: SimDuration,
    pub org: String,
    pub session: u32,
    pub operation: String,
    /// `200`, `401`, `502`, ... or `timeout`, `reset`, `malformed` (edgesim's outcome labels).
    pub status: String,
    /// End-to-end latency the caller saw, when known, in microseconds.
    pub latency: Option<SimDuration>,
}

/// A located problem in an incident file: the same error type as model files (file, line,
/// column, the column or header field concerned as `path`, message, hint).
pub type IncidentError = crate::scenario::ModelError;

const REDACTED: &str = "[redacted]";

fn credential_hint(redactable: bool) -> Option<String> {
    Some(if redactable {
        "edgesim needs no credentials to replay an incident: remove the value from the export, or pass --redact to blank it".into()
    } else {
        "edgesim needs no credentials: remove the value".into()
    })
}

/// Parses and checks a header. Credentials anywhere in it are refused (a header is short and
/// written by hand; it is copied into bundles, so it is never redacted silently).
pub fn parse_header(text: &str, file: &str) -> Result<IncidentHeader, IncidentError> {
    let err = |off: Option<usize>, field: &str, message: String, hint: Option<String>| {
        let (line, column) = off.map(|o| line_col(text, o)).unzip();
        IncidentError { file: file.into(), line, column, path: field.into(), message, hint }
    };
    let doc =
        toml_edit::ImDocument::parse(text.to_string()).map_err(|e| err(e.span().map(|s| s.start), "", format!("TOML syntax: {}", e.message().trim()), None))?;
    scan_header_item(doc.as_item(), "", &|off, field, finding| err(off, field, format!("the value {}", finding.describe()), credential_hint(false)))?;
    let header: IncidentHeader = toml::from_str(text).map_err(|e| {
        let field = e.message().split('`').nth(1).unwrap_or("").to_string();
        err(
            e.span().map(|s| s.start),
            if e.message().starts_with("unknown field") { &field } else { "" },
            e.message().trim().to_string(),
            Some("see models/incidents/README.md for the header fields".into()),
        )
    })?;
    let locate = |key: &str| doc.get(key).and_then(|i| i.span()).map(|s| s.start);
    check_rfc3339(&header.time_zero).map_err(|m| err(locate("time_zero"), "time_zero", m, Some("e.g. time_zero = \"2024-05-14T09:00:00Z\"".into())))?;
    if header.duration.is_zero() {
        return Err(err(locate("duration"), "duration", "the observation window must be positive".into(), Some("e.g. duration = \"20m\"".into())));
    }
    Ok(header)
}

fn scan_header_item(item: &toml_edit::Item, path: &str, fail: &dyn Fn(Option<usize>, &str, Finding) -> IncidentError) -> Result<(), IncidentError> {
    use toml_edit::{Item, Value};
    fn scan_value_tree(v: &Value, path: &str, fail: &dyn Fn(Option<usize>, &str, Finding) -> IncidentError) -> Result<(), IncidentError> {
        match v {
            Value::String(s) => match scan_value(s.value()) {
                Some(f) => Err(fail(v.span().map(|s| s.start), path, f)),
                None => Ok(()),
            },
            Value::Array(a) => a.iter().try_for_each(|x| scan_value_tree(x, path, fail)),
            Value::InlineTable(t) => {
                for (k, x) in t.iter() {
                    let p = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
                    if is_sensitive_name(k) {
                        return Err(fail(x.span().map(|s| s.start), &p, Finding::NamedColumn));
                    }
                    scan_value_tree(x, &p, fail)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
    match item {
        Item::Value(v) => scan_value_tree(v, path, fail),
        Item::Table(t) => {
            for (k, x) in t.iter() {
                let p = if path.is_empty() { k.to_string() } else { format!("{path}.{k}") };
                if is_sensitive_name(k) {
                    let off = t.key(k).and_then(|k| k.span()).map(|s| s.start);
                    return Err(fail(off, &p, Finding::NamedColumn));
                }
                scan_header_item(x, &p, fail)?;
            }
            Ok(())
        }
        Item::ArrayOfTables(a) => {
            for (i, t) in a.iter().enumerate() {
                scan_header_item(&Item::Table(t.clone()), &format!("{path}[{i}]"), fail)?;
            }
            Ok(())
        }
        Item::None => Ok(()),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (RFC 3339 section 5.6).
pub fn check_rfc3339(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let bad = || format!("`{s}` is not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ or with an offset such as +02:00)");
    let digits = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|x| x.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || !matches!(b[10], b'T' | b't' | b' ')
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return Err(bad());
    }
    if !(1..=12).contains(&num(5..7)) || !(1..=31).contains(&num(8..10)) || num(11..13) > 23 || num(14..16) > 59 || num(17..19) > 60 {
        return Err(bad());
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad());
        }
    }
    match &s[i..] {
        "Z" | "z" => Ok(()),
        off if off.len() == 6 && matches!(off.as_bytes()[0], b'+' | b'-') && digits(i + 1..i + 3) && b[i + 3] == b':' && digits(i + 4..i + 6) => Ok(()),
        _ => Err(bad()),
    }
}

/// What the observations are checked against: the orgs of the model and their session counts.
pub struct OrgBook {
    pub orgs: Vec<(String, u32)>,
}

/// Options for reading observations.
#[derive(Copy, Clone, Debug, Default)]
pub struct RowOptions {
    /// Blank credential-looking values (and drop credential-named columns) instead of refusing.
    pub redact: bool,
    /// Skip bad rows (and count them) instead of refusing the file.
    pub lenient: bool,
}

/// Observations read from a CSV.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub rows: Vec<Row>,
    /// Rows skipped under `--lenient`, each with its error.
    pub skipped: Vec<IncidentError>,
    /// Values blanked under `--redact`.
    pub redacted: usize,
}

/// The columns edgesim reads; any other column is ignored (but still scanned for credentials).
pub const COLUMNS: &[&str] = &["time_s", "org", "session", "operation", "status", "latency_ms"];
const REQUIRED: &[&str] = &["time_s", "org", "status"];

/// Splits one CSV line into (1-based column, field) pairs. Fields may be double-quoted (`""`
/// inside a quoted field is a quote); a field cannot span lines.
fn split_csv_line(line: &str) -> Result<Vec<(usize, String)>, (usize, String)> {
    let mut out = vec![];
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    loop {
        let col = i + 1;
        let mut field = String::new();
        if i < chars.len() && chars[i] == '"' {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err((col, "unterminated quoted field".into())),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        field.push(*c);
                        i += 1;
                    }
                }
            }
            if i < chars.len() && chars[i] != ',' {
                return Err((i + 1, "text after a closing quote; quote the whole field".into()));
            }
        } else {
            while i < chars.len() && chars[i] != ',' {
                field.push(chars[i]);
                i += 1;
            }
        }
        out.push((col, field));
        if i >= chars.len() {
            return Ok(out);
        }
        i += 1; // the comma
    }
}

/// Parses a non-negative decimal with at most `max_frac` fraction digits into units of
/// 10^-max_frac (seconds -> microseconds with 6, milliseconds -> microseconds with 3).
fn parse_fixed(s: &str, max_frac: usize) -> Result<u64, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty".into());
    }
    if t.starts_with('-') {
        return Err(format!("`{t}` is negative"));
    }
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{t}` is not a decimal number"));
    }
    if frac.len() > max_frac {
        return Err(format!("`{t}` has more than {max_frac} decimals (finer than a microsecond)"));
    }
    let int: u64 = int.parse().map_err(|_| format!("`{t}` is too large"))?;
    let scale = 10u64.pow(max_frac as u32);
    let frac_v: u64 = if frac.is_empty() { 0 } else { format!("{frac:0<max_frac$}").parse().expect("digits") };
    int.checked_mul(scale).and_then(|v| v.checked_add(frac_v)).ok_or_else(|| format!("`{t}` is too large"))
}

/// Whether a status is one edgesim can produce.
fn valid_status(s: &str) -> bool {
    matches!(s, "timeout" | "reset" | "malformed") || (s.len() == 3 && s.parse::<u16>().is_ok_and(|c| (100..=599).contains(&c)))
}

/// Reads observations. Errors: every problem found, located (strict mode), or the structural
/// problems that even `--lenient` cannot skip (a bad header line, a credential without
/// `--redact`).
pub fn parse_observations(text: &str, file: &str, book: &OrgBook, window: SimDuration, opts: RowOptions) -> Result<Observations, Vec<IncidentError>> {
    let e = |line: usize, column: Option<usize>, field: &str, message: String, hint: Option<String>| IncidentError {
        file: file.into(),
        line: Some(line),
        column,
        path: field.into(),
        message,
        hint,
    };
    let mut lines = text
        .split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(vec![IncidentError {
            file: file.into(),
            line: None,
            column: None,
            path: String::new(),
            message: "no header line".into(),
            hint: Some(format!("the first line names the columns: {}", COLUMNS.join(","))),
        }]);
    };
    let names = split_csv_line(header).map_err(|(c, m)| vec![e(header_line, Some(c), "", m, None)])?;
    let mut index = std::collections::BTreeMap::new();
    let mut dropped = vec![false; names.len()];
    for (i, (col, name)) in names.iter().enumerate() {
        let n = name.trim().to_ascii_lowercase();
        if is_sensitive_name(&n) {
            if opts.redact {
                dropped[i] = true;
                continue;
            }
            return Err(vec![e(
                header_line,
                Some(*col),
                &n,
                format!("column `{n}` {}; its values would be credentials", Finding::NamedColumn.describe()),
                credential_hint(true),
            )]);
        }
        if index.insert(n.clone(), i).is_some() {
            return Err(vec![e(header_line, Some(*col), &n, format!("column `{n}` appears twice"), None)]);
        }
    }
    for r in REQUIRED {
        if !index.contains_key(*r) {
            return Err(vec![e(
                header_line,
                None,
                r,
                format!("the required column `{r}` is missing"),
                Some(format!("the header line names the columns: {} (session, operation and latency_ms are optional)", COLUMNS.join(","))),
            )]);
        }
    }
    let mut out = Observations::default();
    let mut errors = vec![];
    let mut last_time: Option<(SimDuration, usize)> = None;
    for (ln, line) in lines {
        let mut fields = match split_csv_line(line) {
            Ok(f) => f,
            Err((c, m)) => {
                let err = e(ln, Some(c), "", m, None);
                if opts.lenient {
                    out.skipped.push(err)
                } else {
                    errors.push(err)
                }
                continue;
            }
        };
        // Credentials first: no later message may echo one.
        let mut fatal = None;
        for (i, (col, v)) in fields.iter_mut().enumerate() {
            if dropped.get(i).copied().unwrap_or(false) {
                if !v.is_empty() {
                    out.redacted += 1;
                }
                *v = String::new();
                continue;
            }
            if let Some(f) = scan_value(v) {
                if opts.redact {
                    *v = REDACTED.into();
                    out.redacted += 1;
                } else if fatal.is_none() {
                    let name = names.get(i).map(|n| n.1.trim().to_ascii_lowercase()).unwrap_or_default();
                    fatal = Some(e(ln, Some(*col), &name, format!("the value {}", f.describe()), credential_hint(true)));
                }
            }
        }
        if let Some(f) = fatal {
            return Err(vec![f]);
        }
        if fields.len() != names.len() {
            let err = e(
                ln,
                Some(fields.last().map_or(1, |f| f.0)),
                "",
                format!("{} fields, but the header line names {}", fields.len(), names.len()),
                Some("every line has one value per column (leave a value empty, not out)".into()),
            );
            if opts.lenient {
                out.skipped.push(err)
            } else {
                errors.push(err)
            }
            continue;
        }
        let get = |name: &str| index.get(name).map(|i| (fields[*i].0, fields[*i].1.trim().to_string()));
        // Strict mode checks the order against the previous row whose time parsed (even if that
        // row is wrong otherwise), lenient mode against the previous row kept.
        let mut parsed_time = None;
        let row = (|| -> Result<Row, IncidentError> {
            let (tc, tv) = get("time_s").expect("required");
            let time = SimDuration::from_micros(
                parse_fixed(&tv, 6)
                    .map_err(|m| e(ln, Some(tc), "time_s", format!("{m}: time_s is seconds from time zero"), Some("e.g. 12.345 (up to 6 decimals)".into())))?,
            );
            if time >= window {
                return Err(e(
                    ln,
                    Some(tc),
                    "time_s",
                    format!("{tv} s is outside the observation window [0, {window})"),
                    Some("raise `duration` in the incident header or drop the row".into()),
                ));
            }
            if let Some((prev, prev_line)) = last_time {
                if time < prev {
                    return Err(e(
                        ln,
                        Some(tc),
                        "time_s",
                        format!("{tv} s is earlier than line {prev_line} ({} s): rows must be in time order", fmt_secs(prev)),
                        Some("sort the export by time".into()),
                    ));
                }
            }
            parsed_time = Some(time);
            let (oc, org) = get("org").expect("required");
            let Some((_, sessions)) = book.orgs.iter().find(|(n, _)| *n == org) else {
                return Err(e(
                    ln,
                    Some(oc),
                    "org",
                    format!("unknown org `{org}`"),
                    Some(format!("orgs in the model: {}", book.orgs.iter().map(|o| o.0.as_str()).collect::<Vec<_>>().join(", "))),
                ));
            };
            let session = match get("session") {
                Some((_, v)) if v.is_empty() => 0,
                Some((sc, v)) => {
                    let s: u32 = v.parse().map_err(|_| {
                        e(ln, Some(sc), "session", format!("`{v}` is not a session index"), Some("sessions are numbered 0, 1, ... within their org".into()))
                    })?;
                    if s >= *sessions {
                        return Err(e(
                            ln,
                            Some(sc),
                            "session",
                            format!("session {s}, but org `{org}` has {sessions} session(s) in the model (numbered from 0)"),
                            Some("raise the org's `sessions` in the model or renumber the sessions".into()),
                        ));
                    }
                    s
                }
                None => 0,
            };
            let operation = get("operation").map(|x| x.1).unwrap_or_default();
            let (sc, status) = get("status").expect("required");
            if !valid_status(&status) {
                return Err(e(
                    ln,
                    Some(sc),
                    "status",
                    format!("`{status}` is not a status"),
                    Some("an HTTP status (200, 401, 502...) or timeout, reset, malformed".into()),
                ));
            }
            let latency = match get("latency_ms") {
                Some((_, v)) if v.is_empty() => None,
                Some((lc, v)) => Some(SimDuration::from_micros(parse_fixed(&v, 3).map_err(|m| {
                    e(ln, Some(lc), "latency_ms", format!("{m}: latency_ms is milliseconds"), Some("e.g. 180.7, or leave it empty when unknown".into()))
                })?)),
                None => None,
            };
            Ok(Row { line: ln, time, org, session, operation, status, latency })
        })();
        match row {
            Ok(r) => {
                last_time = Some((r.time, ln));
                out.rows.push(r);
            }
            Err(err) if opts.lenient => out.skipped.push(err),
            Err(err) => {
                if let Some(t) = parsed_time {
                    last_time = Some((t, ln));
                }
                errors.push(err);
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if out.rows.is_empty() {
        return Err(vec![IncidentError {
            file: file.into(),
            line: None,
            column: None,
            path: String::new(),
            message: if out.skipped.is_empty() { "no observations".into() } else { format!("no usable observations ({} rows skipped)", out.skipped.len()) },
            hint: None,
        }]);
    }
    Ok(out)
}

/// Seconds with up to six decimals, trailing zeros dropped (at least one decimal kept).
pub fn fmt_secs(d: SimDuration) -> String {
    fmt_fixed(d.micros(), 6)
}

fn fmt_fixed(v: u64, decimals: usize) -> String {
    let scale = 10u64.pow(decimals as u32);
    let frac = format!("{:0width$}", v % scale, width = decimals);
    let frac = frac.trim_end_matches('0');
    format!("{}.{}", v / scale, if frac.is_empty() { "0" } else { frac })
}

/// The rows as the canonical CSV that bundles carry: the known columns only, in a fixed order.
pub fn canonical_csv(rows: &[Row]) -> String {
    let mut s = String::from("time_s,org,session,operation,status,latency_ms\n");
    for r in rows {
        let q = |v: &str| if v.contains([',', '"']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() };
        s.push_str(&format!(
            "{},{},{},{},{},{}\n",
            fmt_secs(r.time),
            q(&r.org),
            r.session,
            q(&r.operation),
            q(&r.status),
            r.latency.map(|l| fmt_fixed(l.micros(), 3)).unwrap_or_default()
        ));
    }
    s
}

/// A loaded incident: header, model text and observations, all in memory.
#[derive(Clone, Debug)]
pub struct Incident {
    /// File stem of the header (`seed-incident`).
    pub name: String,
    pub header_file: String,
    pub header_text: String,
    pub header: IncidentHeader,
    pub model_file: String,
    pub model_text: String,
    pub observations_file: String,
    pub observations: Observations,
}

/// How to load an incident.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Use this model instead of the header's.
    pub model: Option<PathBuf>,
    pub rows: RowOptions,
}

/// Errors of loading: the incident files (each located) or the model.
#[derive(Debug)]
pub enum LoadError {
    Incident(Vec<IncidentError>),
    Model(crate::scenario::ModelError),
}

/// Reads a header, its model and its observations from disk.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Incident, LoadError> {
    let header_file = path.display().to_string();
    let read = |p: &Path, what: &str, at: Option<(&str, &str)>| {
        std::fs::read_to_string(p).map_err(|e| {
            let (file, field) = at.unwrap_or((&header_file, ""));
            LoadError::Incident(vec![IncidentError {
                file: file.into(),
                line: None,
                column: None,
                path: field.into(),
                message: format!("cannot read the {what} {}: {e}", p.display()),
                hint: None,
            }])
        })
    };
    let header_text = read(path, "incident header", None)?;
    let header = parse_header(&header_text, &header_file).map_err(|e| LoadError::Incident(vec![e]))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let model_path = opts.model.clone().unwrap_or_else(|| normalise(&dir.join(&header.model)));
    let model_text = read(&model_path, "model file", (opts.model.is_none()).then_some((&header_file, "model")))?;
    let obs_path = normalise(&dir.join(&header.observations));
    let obs_text = read(&obs_path, "observations", Some((&header_file, "observations")))?;
    let name = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    from_texts(name, header_file, header_text, header, model_path.display().to_string(), model_text, obs_path.display().to_string(), &obs_text, opts.rows)
}

/// `models/incidents/../seed-incident.toml` -> `models/seed-incident.toml` (lexically; for
/// messages and reports).
fn normalise(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Builds an incident from texts already in memory (bundles, tests).
#[allow(clippy::too_many_arguments)]
pub fn from_texts(
    name: String,
    header_file: String,
    header_text: String,
    header: IncidentHeader,
    model_file: String,
    model_text: String,
    observations_file: String,
    observations_text: &str,
    opts: RowOptions,
) -> Result<Incident, LoadError> {
    let model = crate::scenario::load_str(&model_text, &model_file, &[]).map_err(LoadError::Model)?;
    let book = OrgBook { orgs: model.orgs.iter().map(|o| (o.name.clone(), o.sessions)).collect() };
    let observations = parse_observations(observations_text, &observations_file, &book, header.duration, opts).map_err(LoadError::Incident)?;
    Ok(Incident { name, header_file, header_text, header, model_file, model_text, observations_file, observations })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book() -> OrgBook {
        OrgBook { orgs: vec![("A".into(), 2), ("B".into(), 1)] }
    }

    fn parse(text: &str, opts: RowOptions) -> Result<Observations, Vec<IncidentError>> {
        parse_observations(text, "x.csv", &book(), SimDuration::from_secs(60), opts)
    }

    #[test]
    fn good_rows() {
        let o = parse("# export\ntime_s,org,session,operation,status,latency_ms\n0.5,A,1,call,200,12.5\n1,B,,call,401,\n", RowOptions::default()).unwrap();
        assert_eq!(o.rows.len(), 2);
        assert_eq!(o.rows[0].time, SimDuration::from_millis(500));
        assert_eq!(o.rows[0].latency, Some(SimDuration::from_micros(12_500)));
        assert_eq!(o.rows[1].session, 0);
        assert_eq!(o.rows[1].latency, None);
        assert_eq!(canonical_csv(&o.rows), "time_s,org,session,operation,status,latency_ms\n0.5,A,1,call,200,12.5\n1.0,B,0,call,401,\n");
    }

    #[test]
    fn located_errors() {
        let errs = parse("time_s,org,status\n1.0,A,200\nabc,A,200\n2.0,Z,200\n1.5,A,200\n", RowOptions::default()).unwrap_err();
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(shown[0].starts_with("x.csv:3:1: error in `time_s`"), "{}", shown[0]);
        assert!(shown[1].starts_with("x.csv:4:5: error in `org`: unknown org `Z`"), "{}", shown[1]);
        assert!(shown[2].starts_with("x.csv:5:1: error in `time_s`") && shown[2].contains("earlier than line 4"), "{}", shown[2]);
        let o = parse("time_s,org,status\n1.0,A,200\nabc,A,200\n2.0,Z,200\n1.5,A,200\n", RowOptions { lenient: true, ..Default::default() }).unwrap();
        // Lenient: line 5 is compared with line 2, the last row kept, and is in order.
        assert_eq!((o.rows.len(), o.skipped.len()), (2, 2));
    }

    #[test]
    fn rfc3339() {
        assert!(check_rfc3339("2024-05-14T09:00:00Z").is_ok());
        assert!(check_rfc3339("2024-05-14T09:00:00.250+02:00").is_ok());
        assert!(check_rfc3339("2024-05-14 09:00").is_err());
        assert!(check_rfc3339("2024-13-14T09:00:00Z").is_err());
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(split_csv_line("a,\"b,c\",\"d\"\"e\"").unwrap(), vec![(1, "a".to_string()), (3, "b,c".to_string()), (9, "d\"e".to_string())]);
        assert!(split_csv_line("\"abc").is_err());
    }
}
