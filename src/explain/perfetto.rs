//! A run as a Chrome trace-event JSON file (opens in ui.perfetto.dev and chrome://tracing):
//! one process per org with a thread per session (invocations), one process for the components
//! with a thread per component (requests and retries as spans), and instant events for
//! rotations, reuse detections, revocations, re-authorizations, duplicates and faults.
//!
//! Built from the CSV trace, streamed: memory holds only the spans still open.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

/// Process id of the components' track group.
const COMPONENTS_PID: u64 = 1;

struct Tracks {
    orgs: BTreeMap<String, u64>,
    components: BTreeMap<String, u64>,
    sessions: BTreeMap<(u64, u64), ()>,
}

/// Converts a CSV trace (as written by `edgesim run --trace`) to trace-event JSON.
pub fn convert<R: BufRead, W: Write + ?Sized>(trace: R, out: &mut W) -> Result<u64, String> {
    let mut rdr = csv::Reader::from_reader(trace);
    let mut tracks = Tracks { orgs: BTreeMap::new(), components: BTreeMap::new(), sessions: BTreeMap::new() };
    let mut open: BTreeMap<String, (u64, u64, u64, String)> = BTreeMap::new(); // key -> (id, pid, tid, cat)
    let mut next_id = 1u64;
    let mut last_ts = 0u64;
    let mut first = true;
    let mut count = 0u64;
    let emit = |out: &mut W, v: Value, first: &mut bool| -> Result<(), String> {
        let sep = if *first { "" } else { ",\n" };
        *first = false;
        write!(out, "{sep}{v}").map_err(|e| e.to_string())
    };
    writeln!(out, "{{\"displayTimeUnit\": \"ms\", \"traceEvents\": [").map_err(|e| e.to_string())?;
    emit(out, json!({"ph": "M", "name": "process_name", "pid": COMPONENTS_PID, "args": {"name": "components"}}), &mut first)?;
    for rec in rdr.records() {
        let r = rec.map_err(|e| format!("trace: {e}"))?;
        let ts: u64 = r[0].parse().map_err(|_| format!("trace: bad time `{}`", &r[0]))?;
        last_ts = ts;
        let (event, component, org, session, inv, attempt, status, detail) = (&r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8]);
        let org_pid = {
            let n = tracks.orgs.len() as u64;
            let new = !tracks.orgs.contains_key(org);
            let pid = *tracks.orgs.entry(org.to_string()).or_insert(100 + n);
            if new {
                emit(out, json!({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": format!("org {org}")}}), &mut first)?;
            }
            pid
        };
        let session_tid: u64 = session.parse().unwrap_or(0) + 1;
        if tracks.sessions.insert((org_pid, session_tid), ()).is_none() {
            emit(
                out,
                json!({"ph": "M", "name": "thread_name", "pid": org_pid, "tid": session_tid, "args": {"name": format!("session {}", session_tid - 1)}}),
                &mut first,
            )?;
        }
        let comp_tid = if component.is_empty() {
            0
        } else {
            let n = tracks.components.len() as u64 + 1;
            let new = !tracks.components.contains_key(component);
            let tid = *tracks.components.entry(component.to_string()).or_insert(n);
            if new {
                emit(out, json!({"ph": "M", "name": "thread_name", "pid": COMPONENTS_PID, "tid": tid, "args": {"name": component}}), &mut first)?;
            }
            tid
        };
        let caller = detail.split(" from ").nth(1).and_then(|x| x.split(" try ").next()).unwrap_or("");
        let span_key = format!("{component}|{inv}|{attempt}|{caller}");
        match event {
            "invocation_started" => {
                let id = next_id;
                next_id += 1;
                open.insert(format!("inv|{inv}"), (id, org_pid, session_tid, "invocation".into()));
                emit(
                    out,
                    json!({"ph": "b", "cat": "invocation", "name": format!("invocation {inv}"), "id": id, "pid": org_pid, "tid": session_tid, "ts": ts}),
                    &mut first,
                )?;
            }
            "invocation_ended" => {
                if let Some((id, pid, tid, cat)) = open.remove(&format!("inv|{inv}")) {
                    emit(
                        out,
                        json!({"ph": "e", "cat": cat, "name": format!("invocation {inv}"), "id": id, "pid": pid, "tid": tid, "ts": ts, "args": {"status": status}}),
                        &mut first,
                    )?;
                }
            }
            "attempt_sent" => {
                let id = next_id;
                next_id += 1;
                let name = detail.split(" rt=").next().unwrap_or(detail).to_string();
                if let Some((old, pid, tid, cat)) = open.insert(span_key.clone(), (id, COMPONENTS_PID, comp_tid, "request".into())) {
                    // A key reused before its end (should not happen): close the old span here.
                    emit(out, json!({"ph": "e", "cat": cat, "name": "request", "id": old, "pid": pid, "tid": tid, "ts": ts}), &mut first)?;
                }
                emit(
                    out,
                    json!({"ph": "b", "cat": "request", "name": name, "id": id, "pid": COMPONENTS_PID, "tid": comp_tid, "ts": ts, "args": {"org": org, "invocation": inv, "attempt": attempt, "detail": detail}}),
                    &mut first,
                )?;
            }
            "reply_received" | "try_timeout" | "deadline_passed" | "work_cancelled" => {
                if let Some((id, pid, tid, cat)) = open.remove(&span_key) {
                    emit(
                        out,
                        json!({"ph": "e", "cat": cat, "name": "request", "id": id, "pid": pid, "tid": tid, "ts": ts, "args": {"end": event, "status": status}}),
                        &mut first,
                    )?;
                }
            }
            _ => {
                // Instant events: on the component's track when there is one, else the session's.
                let (pid, tid) = if comp_tid > 0 { (COMPONENTS_PID, comp_tid) } else { (org_pid, session_tid) };
                emit(
                    out,
                    json!({"ph": "i", "s": "t", "name": event, "pid": pid, "tid": tid, "ts": ts, "args": {"org": org, "invocation": inv, "detail": detail, "status": status}}),
                    &mut first,
                )?;
            }
        }
        count += 1;
    }
    // Spans still open when the run ended (work cut off by the horizon, requests lost in a
    // partition) end at the last event, marked as such.
    for (_, (id, pid, tid, cat)) in std::mem::take(&mut open) {
        emit(
            out,
            json!({"ph": "e", "cat": cat, "name": "unfinished", "id": id, "pid": pid, "tid": tid, "ts": last_ts, "args": {"end": "run ended"}}),
            &mut first,
        )?;
    }
    writeln!(out, "\n]}}").map_err(|e| e.to_string())?;
    Ok(count)
}
