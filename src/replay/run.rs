//! Driving a model with recorded arrivals: each org's invocations become one workload with
//! `Arrivals::Trace` (exact times and sessions, nothing sampled), the header's fault windows
//! apply, and the run streams its trace (CSV) into memory so that it can be matched against the
//! observations and hashed.

use super::incident::Incident;
use crate::model::config::Model;
use crate::model::metrics::Summary;
use crate::model::trace::TraceFormat;
use crate::model::workload::{Arrivals, WorkloadConfig};
use crate::model::world::{RunError, RunOptions};
use crate::scenario::{self, ModelError, Override};
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// An in-memory trace sink.
#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);
impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The model a replay runs: the model file with `overrides`, its workloads replaced by the
/// recorded arrivals, its window set to the incident's, its faults by the header's (if any).
///
/// Each org's workload takes the target and client settings of the org's first workload in the
/// model, and its name too, so that the client's random stream (`client:<name>`) is the one the
/// model would use. Overrides of `workload[i].arrivals` therefore have no effect in a replay.
pub fn replay_model(incident: &Incident, overrides: &[Override]) -> Result<Model, ModelError> {
    let mut model = scenario::load_str(&incident.model_text, &incident.model_file, overrides)?;
    model.simulation.duration = incident.header.duration;
    if let Some(f) = &incident.header.faults {
        model.faults = f.clone();
    }
    let templates = std::mem::take(&mut model.workload);
    for org in &model.orgs {
        let rows: Vec<_> = incident.observations.rows.iter().filter(|r| r.org == org.name).collect();
        if rows.is_empty() {
            continue;
        }
        let (index, template) =
            templates.iter().enumerate().find(|(_, w)| w.org == org.name).or_else(|| templates.iter().enumerate().next()).ok_or_else(|| ModelError {
                file: incident.model_file.clone(),
                line: None,
                column: None,
                path: "workload".into(),
                message: "the model has no [[workload]] to take the target and client from".into(),
                hint: None,
            })?;
        let name = if template.org == org.name {
            template.name.clone().unwrap_or_else(|| format!("workload-{}-{index}", org.name))
        } else {
            format!("replay-{}", org.name)
        };
        model.workload.push(WorkloadConfig {
            name: Some(name),
            org: org.name.clone(),
            target: template.target.clone(),
            arrivals: Arrivals::Trace { times: rows.iter().map(|r| r.time).collect(), sessions: rows.iter().map(|r| r.session).collect() },
            client: template.client.clone(),
        });
    }
    scenario::validate::validate(&model).map_err(|p| ModelError {
        file: incident.header_file.clone(),
        line: None,
        column: None,
        path: p.path,
        message: format!("the replay model (the model file with the recorded arrivals and the header's faults) is invalid: {}", p.message),
        hint: p.hint,
    })?;
    Ok(model)
}

/// One run of a replay model: its summary and its CSV trace.
pub struct Simulated {
    pub summary: Summary,
    pub trace: String,
}

/// Runs a replay model with an in-memory CSV trace. `summary.trace_hash` is the trace's blake3.
pub fn simulate(model: Model, seed: Option<u64>) -> Result<Simulated, RunError> {
    let sink = Sink::default();
    let opts = RunOptions { seed, trace: Some((Box::new(sink.clone()), TraceFormat::Csv)), ..Default::default() };
    let summary = crate::run(model, opts)?;
    let bytes = std::mem::take(&mut *sink.0.borrow_mut());
    let trace = String::from_utf8(bytes).map_err(|e| RunError::Trace(e.to_string()))?;
    Ok(Simulated { summary, trace })
}

/// One row of a CSV trace, owned.
#[derive(Clone, Debug)]
pub struct TraceLine {
    pub time_us: u64,
    pub event: String,
    pub component: String,
    pub org: String,
    pub session: Option<u32>,
    pub invocation: Option<u64>,
    pub status: String,
    pub detail: String,
    /// The row as written (without its newline).
    pub raw: String,
}

/// A simulated invocation, from its `invocation_started` and `invocation_ended` rows.
#[derive(Clone, Debug)]
pub struct SimInvocation {
    pub id: u64,
    pub org: String,
    pub session: u32,
    pub started_us: u64,
    /// `None`: the run ended before the invocation did.
    pub ended_us: Option<u64>,
    pub status: Option<String>,
    /// Index of the `invocation_started` row in the trace.
    pub first_row: usize,
    pub last_row: usize,
}

/// Reads a CSV trace into rows and invocations (in start order: ids are given in start order).
pub fn parse_trace(trace: &str) -> (Vec<TraceLine>, Vec<SimInvocation>) {
    let mut lines = vec![];
    let mut invs: Vec<SimInvocation> = vec![];
    let mut by_id = std::collections::BTreeMap::new();
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(trace.as_bytes());
    let raw_lines: Vec<&str> = trace.lines().skip(1).collect();
    for (i, rec) in rdr.records().enumerate() {
        let Ok(r) = rec else { continue };
        let t = TraceLine {
            time_us: r[0].parse().unwrap_or(0),
            event: r[1].to_string(),
            component: r[2].to_string(),
            org: r[3].to_string(),
            session: r[4].parse().ok(),
            invocation: r[5].parse().ok(),
            status: r[7].to_string(),
            detail: r[8].to_string(),
            raw: raw_lines.get(i).map(|s| s.to_string()).unwrap_or_default(),
        };
        let idx = lines.len();
        match (t.event.as_str(), t.invocation) {
            ("invocation_started", Some(id)) => {
                by_id.insert(id, invs.len());
                invs.push(SimInvocation {
                    id,
                    org: t.org.clone(),
                    session: t.session.unwrap_or(0),
                    started_us: t.time_us,
                    ended_us: None,
                    status: None,
                    first_row: idx,
                    last_row: idx,
                });
            }
            ("invocation_ended", Some(id)) => {
                if let Some(&k) = by_id.get(&id) {
                    invs[k].ended_us = Some(t.time_us);
                    invs[k].status = Some(t.status.clone());
                    invs[k].last_row = idx;
                }
            }
            (_, Some(id)) => {
                if let Some(&k) = by_id.get(&id) {
                    if invs[k].ended_us.is_none() {
                        invs[k].last_row = idx;
                    }
                }
            }
            _ => {}
        }
        lines.push(t);
    }
    invs.sort_by_key(|i| i.id);
    (lines, invs)
}
