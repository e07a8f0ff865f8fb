//! Fault timelines: each kind of window has its effect, inside the window only, and shows in
//! the trace and in the time series.

use super::determinism::SharedBuf;
use crate::load;
use edgesim::model::trace::TraceFormat;
use edgesim::model::world::RunOptions;

/// Runs `models/healthy.toml` with one extra fault (TOML text) and returns the summary, the trace
/// and the time series.
fn run_with_fault(fault: &str) -> (edgesim::model::metrics::Summary, String, String) {
    let text = std::fs::read_to_string(crate::repo("models/healthy.toml")).unwrap() + "\n[[fault]]\n" + fault;
    let model = edgesim::scenario::load_str(&text, "healthy+fault.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    let (trace, ts) = (SharedBuf::default(), SharedBuf::default());
    let opts = RunOptions { trace: Some((Box::new(trace.clone()), TraceFormat::Csv)), timeseries: Some(Box::new(ts.clone())), ..Default::default() };
    let s = edgesim::run(model, opts).unwrap();
    let t = String::from_utf8(trace.0.lock().unwrap().clone()).unwrap();
    let series = String::from_utf8(ts.0.lock().unwrap().clone()).unwrap();
    (s, t, series)
}

/// Outcome statuses of invocations that started inside [from, to) seconds, from the trace.
fn statuses_between(trace: &str, from: f64, to: f64) -> Vec<String> {
    let mut started = std::collections::BTreeMap::new();
    let mut out = vec![];
    for line in trace.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let t = f[0].parse::<f64>().unwrap() / 1e6;
        match f[1] {
            "invocation_started" => {
                started.insert(f[5].to_string(), t);
            }
            "invocation_ended" => {
                if let Some(st) = started.get(f[5]) {
                    if *st >= from && *st < to {
                        out.push(f[7].to_string());
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn fault_rows(series: &str, component: &str) -> Vec<u64> {
    series
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1) == Some(component) && l.ends_with(",1"))
        .map(|l| l.split(',').next().unwrap().parse::<f64>().unwrap() as u64)
        .collect()
}

#[test]
fn healthy_baseline_is_healthy() {
    let s = edgesim::run(load("models/healthy.toml", &[]), RunOptions::default()).unwrap();
    assert_eq!(s.success_rate, 1.0);
    assert_eq!(s.family_revocations, 0);
}

#[test]
fn token_endpoint_unavailable_fails_refreshes_only_inside_the_window() {
    let (s, trace, series) = run_with_fault(
        r#"kind = "unavailable"
component = "idp"
start = "100s"
end = "400s"
"#,
    );
    assert!(s.unavailable_refusals > 0);
    assert!(trace.contains("fault_started,idp") && trace.contains("fault_ended,idp"));
    let rows = fault_rows(&series, "idp");
    assert_eq!((rows.first().copied(), rows.last().copied(), rows.len()), (Some(100), Some(399), 300));
    assert!(statuses_between(&trace, 500.0, 1200.0).iter().all(|st| st == "200"), "healthy again after the window");
}

#[test]
fn partition_drops_and_callers_time_out() {
    let (s, trace, _) = run_with_fault(
        r#"kind = "partition"
from = "alb"
to = "webhook"
start = "300s"
end = "330s"
"#,
    );
    assert!(s.partition_drops > 0);
    let inside = statuses_between(&trace, 300.0, 329.0);
    assert!(!inside.is_empty() && inside.iter().all(|st| st != "200"), "{inside:?}");
    assert_eq!(s.invocations_unfinished, 0, "the edge's deadline ends every stuck invocation");
    assert!(statuses_between(&trace, 400.0, 1200.0).iter().all(|st| st == "200"));
}

#[test]
fn capacity_fault_queues_work_then_drains() {
    let base = edgesim::run(load("models/healthy.toml", &[]), RunOptions::default()).unwrap();
    let (s, trace, _) = run_with_fault(
        r#"kind = "capacity"
component = "webhook"
start = "200s"
end = "260s"
workers = 0
"#,
    );
    assert!(s.max_queue_len > base.max_queue_len + 50, "work queues while no worker runs");
    assert!(trace.contains("capacity: 0 workers"));
    assert_eq!(s.invocations_unfinished, 0);
}

#[test]
fn error_window_and_admin_revocation() {
    let (s, _, _) = run_with_fault(
        r#"kind = "errors"
component = "webhook"
start = "100s"
end = "200s"
rate = 1.0
"#,
    );
    let five_hundreds = s.outcomes.get("500").copied().unwrap_or(0);
    assert!(five_hundreds > 150 && five_hundreds < 350, "about 100 s of ~2.3/s traffic fails: {five_hundreds}");
    let (r, trace, _) = run_with_fault(
        r#"kind = "revoke-authorization"
org = "B"
at = "300s"
"#,
    );
    assert_eq!(r.family_revocations, 1);
    assert!(trace.contains("family_revoked,idp,B"));
    assert!(r.orgs.iter().find(|o| o.org == "B").unwrap().unauthorized_401 > 0);
}

#[test]
fn same_seed_same_faults() {
    let f = r#"kind = "slow"
component = "idp"
start = "100s"
end = "160s"
factor = 20.0
"#;
    let (a, ta, sa) = run_with_fault(f);
    let (b, tb, sb) = run_with_fault(f);
    assert_eq!(edgesim::report::to_json(&a), edgesim::report::to_json(&b));
    assert_eq!(ta, tb);
    assert_eq!(sa, sb);
}

/// A service that answers garbage: the edge maps a malformed response to 502.
#[test]
fn malformed_answers_become_502_at_the_edge() {
    let (s, _, _) = run_with_fault(
        r#"kind = "errors"
component = "webhook"
start = "100s"
end = "200s"
rate = 1.0
malformed = true
"#,
    );
    let bad = s.outcomes.get("502").copied().unwrap_or(0);
    assert!(bad > 150 && bad < 350, "about 100 s of ~2.3/s traffic: {bad} 502s ({:?})", s.outcomes);
    assert!(!s.outcomes.contains_key("malformed"), "the edge never passes a malformed answer on");
}
