//! Replay bundles: one JSON file that holds everything a replay needs (the incident header, the
//! model text, the recorded rows, the seed, the what-ifs) and what it produced (the blake3 of
//! each run's CSV trace). `edgesim replay --verify BUNDLE` re-runs it from the bundle alone (no
//! other file is read) and proves that it reproduces bit for bit.
//!
//! Each text carries its own blake3, so an edit that does not update the hashes is caught before
//! anything runs; an edit that does update them changes the traces, and the trace hashes no
//! longer match.

use super::incident::{self, canonical_csv, Incident, RowOptions};
use super::{ReplayError, ReplayReport, WhatIf};
use serde::{Deserialize, Serialize};

/// Identifies the bundle format; bumped when its meaning changes.
pub const FORMAT: &str = "edgesim-replay-bundle/1";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub format: String,
    /// The edgesim that made the bundle. Another version may simulate differently.
    pub edgesim_version: String,
    pub incident: String,
    /// The incident header (TOML): window, time zero, fault windows.
    pub header: HashedText,
    /// The model file's text (never a path: the bundle is self-contained).
    pub model: HashedText,
    /// The recorded invocations, as canonical CSV (`time_s,org,session,operation,status,latency_ms`,
    /// after `--redact` and `--lenient`).
    pub rows: HashedText,
    /// The seed the runs used.
    pub seed: u64,
    /// blake3 of the baseline run's CSV trace.
    pub trace_hash: String,
    pub what_ifs: Vec<BundleRun>,
    /// Recorded invocations and how many of their statuses the baseline reproduced.
    pub recorded: usize,
    pub reproduced: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HashedText {
    /// Where the text came from (informational).
    pub name: String,
    /// blake3 of `text`, hex.
    pub blake3: String,
    pub text: String,
}

impl HashedText {
    pub fn new(name: &str, text: &str) -> HashedText {
        HashedText { name: name.into(), blake3: blake3::hash(text.as_bytes()).to_hex().to_string(), text: text.into() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BundleRun {
    /// The what-if, `PATH=VALUE[,PATH=VALUE...]`.
    pub what_if: String,
    pub trace_hash: String,
}

/// The bundle of a replay.
pub fn make(incident: &Incident, report: &ReplayReport) -> Bundle {
    Bundle {
        format: FORMAT.into(),
        edgesim_version: super::VERSION.into(),
        incident: incident.name.clone(),
        header: HashedText::new(&incident.header_file, &incident.header_text),
        model: HashedText::new(&incident.model_file, &incident.model_text),
        rows: HashedText::new(&incident.observations_file, &canonical_csv(&incident.observations.rows)),
        seed: report.seed,
        trace_hash: report.baseline.trace_hash.clone(),
        what_ifs: report.what_ifs.iter().map(|w| BundleRun { what_if: w.label.clone(), trace_hash: w.trace_hash.clone() }).collect(),
        recorded: report.recorded,
        reproduced: report.fidelity.reproduced,
    }
}

/// The bundle as pretty JSON with a final newline.
pub fn to_json(b: &Bundle) -> String {
    let mut s = serde_json::to_string_pretty(b).expect("a bundle serializes");
    s.push('\n');
    s
}

/// What a verification proved.
#[derive(Clone, Debug)]
pub struct Verified {
    pub incident: String,
    pub seed: u64,
    pub trace_hash: String,
    /// (what-if, trace hash), each reproduced.
    pub what_ifs: Vec<(String, String)>,
    pub recorded: usize,
    pub reproduced: usize,
}

/// Re-runs a bundle (its JSON text; `file` names it in messages) and checks every hash.
pub fn verify(text: &str, file: &str) -> Result<Verified, ReplayError> {
    let b: Bundle =
        serde_json::from_str(text).map_err(|e| ReplayError::Bundle(format!("{file}:{}:{}: error: not a replay bundle: {e}", e.line(), e.column())))?;
    if b.format != FORMAT {
        return Err(ReplayError::Bundle(format!("{file}: error: bundle format `{}`, this edgesim reads `{FORMAT}`", b.format)));
    }
    for (what, h) in [("incident header", &b.header), ("model text", &b.model), ("incident rows", &b.rows)] {
        let actual = blake3::hash(h.text.as_bytes()).to_hex().to_string();
        if actual != h.blake3 {
            return Err(ReplayError::Mismatch(format!(
                "{file}: verification FAILED: the {what} does not match its blake3 (the bundle says {}, the text hashes to {actual}): the bundle was edited after it was made, so it proves nothing",
                h.blake3
            )));
        }
    }
    let header_file = format!("{file}#header");
    let header = incident::parse_header(&b.header.text, &header_file).map_err(|e| ReplayError::Incident(vec![e]))?;
    let inc = incident::from_texts(
        b.incident.clone(),
        header_file,
        b.header.text.clone(),
        header,
        b.model.name.clone(),
        b.model.text.clone(),
        format!("{file}#rows"),
        &b.rows.text,
        RowOptions::default(),
    )?;
    let what_ifs = b.what_ifs.iter().map(|w| WhatIf::parse(&w.what_if)).collect::<Result<Vec<_>, _>>()?;
    let r = super::replay(&inc, Some(b.seed), &what_ifs)?;
    let mut problems = vec![];
    if r.report.baseline.trace_hash != b.trace_hash {
        problems.push(format!("baseline: trace blake3 {} but the bundle says {}", r.report.baseline.trace_hash, b.trace_hash));
    }
    for (w, expected) in r.report.what_ifs.iter().zip(&b.what_ifs) {
        if w.trace_hash != expected.trace_hash {
            problems.push(format!("what-if {}: trace blake3 {} but the bundle says {}", expected.what_if, w.trace_hash, expected.trace_hash));
        }
    }
    if r.report.fidelity.reproduced != b.reproduced || r.report.recorded != b.recorded {
        problems
            .push(format!("fidelity: {}/{} reproduced but the bundle says {}/{}", r.report.fidelity.reproduced, r.report.recorded, b.reproduced, b.recorded));
    }
    if !problems.is_empty() {
        let version = if b.edgesim_version != super::VERSION {
            format!(
                "\n  note: the bundle was made by edgesim {}, this is {}; a model change between versions explains a different trace",
                b.edgesim_version,
                super::VERSION
            )
        } else {
            String::new()
        };
        return Err(ReplayError::Mismatch(format!("{file}: verification FAILED: the replay does not reproduce\n  {}{version}", problems.join("\n  "))));
    }
    Ok(Verified {
        incident: b.incident,
        seed: b.seed,
        trace_hash: r.report.baseline.trace_hash.clone(),
        what_ifs: r.report.what_ifs.iter().map(|w| (w.label.clone(), w.trace_hash.clone())).collect(),
        recorded: r.report.recorded,
        reproduced: r.report.fidelity.reproduced,
    })
}
