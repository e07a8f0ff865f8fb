//! Rendering what a run reports: text for people, JSON and CSV for programs.

pub mod html;

use crate::model::metrics::Summary;
use serde_json::Value;
use std::fmt::Write;

/// Flattens a summary into `(dotted.key, value)` pairs, orgs and components keyed by name
/// (`orgs.B.unauthorized_401`). Used by `--format csv` and by sweeps.
pub fn flatten(summary: &Summary) -> Vec<(String, String)> {
    let v = serde_json::to_value(summary).expect("summary serializes");
    let mut out = vec![];
    flatten_value("", &v, &mut out);
    out
}

fn flatten_value(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let key = |k: &str| if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") };
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten_value(&key(k), v, out);
            }
        }
        Value::Array(a) => {
            let named = a.iter().all(|x| x.get("org").is_some() || x.get("component").is_some());
            if named && !a.is_empty() {
                for x in a {
                    let name = x.get("org").or_else(|| x.get("component")).and_then(|n| n.as_str()).unwrap_or("?");
                    let mut inner = x.clone();
                    if let Some(o) = inner.as_object_mut() {
                        o.remove("org");
                        o.remove("component");
                    }
                    flatten_value(&key(name), &inner, out);
                }
            } else {
                let joined: Vec<String> = a.iter().map(|x| x.as_str().map(String::from).unwrap_or_else(|| x.to_string())).collect();
                out.push((prefix.to_string(), joined.join(";")));
            }
        }
        Value::Null => out.push((prefix.to_string(), String::new())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// CSV: a header row and one value row.
pub fn to_csv(summary: &Summary) -> String {
    let pairs = flatten(summary);
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record(pairs.iter().map(|(k, _)| k.as_str())).expect("in memory");
    w.write_record(pairs.iter().map(|(_, v)| v.as_str())).expect("in memory");
    String::from_utf8(w.into_inner().expect("in memory")).expect("utf8")
}

pub fn to_json(summary: &Summary) -> String {
    serde_json::to_string_pretty(summary).expect("summary serializes") + "\n"
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The summary for people.
pub fn to_text(s: &Summary) -> String {
    let mut o = String::new();
    let w = &mut o;
    if !s.model.is_empty() {
        let _ = writeln!(w, "model: {}", s.model);
    }
    let _ = writeln!(w, "seed {}  simulated {:.1}s  events {}", s.seed, s.simulated_seconds, s.events);
    let _ = writeln!(w);
    let _ = writeln!(w, "invocations         {} ({} unfinished), success {}", s.invocations, s.invocations_unfinished, pct(s.success_rate));
    let outcomes: Vec<String> = s.outcomes.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(w, "outcomes            {}", outcomes.join("  "));
    let l = &s.latency;
    let _ = writeln!(w, "latency ms          p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1}  mean {:.1}", l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, l.mean_ms);
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "{:<8} {:>10} {:>9} {:>7} {:>9} {:>11} {:>12} {:>10}  outcomes",
        "org", "invocations", "success", "401s", "p99 ms", "revocations", "s revoked", "first 401"
    );
    for org in &s.orgs {
        let oc: Vec<String> = org.outcomes.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let _ = writeln!(
            w,
            "{:<8} {:>10} {:>9} {:>7} {:>9.1} {:>11} {:>12.1} {:>10}  {}",
            org.org,
            org.invocations,
            pct(org.success_rate),
            org.unauthorized_401,
            org.latency.p99_ms,
            org.family_revocations,
            org.seconds_revoked,
            org.first_401_at_s.map(|t| format!("{t:.1}s")).unwrap_or_else(|| "-".into()),
            oc.join(" ")
        );
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "tokens              refreshes {}  rotations {}  lost rotations {}  grace reuses {}",
        s.refresh_requests, s.rotations, s.lost_rotations, s.grace_reuses
    );
    let _ = writeln!(
        w,
        "                    reuse detected {}  reuse allowed {}  invalid_grant {}  family revocations {}  manual re-auths {}",
        s.reuse_detections, s.reuse_allowed, s.invalid_grants, s.family_revocations, s.manual_reauths
    );
    let needing = if s.orgs_needing_manual_reauth.is_empty() { "none".to_string() } else { s.orgs_needing_manual_reauth.join(", ") };
    let _ = writeln!(w, "manual re-auth      orgs: {needing}; sessions still revoked at end: {}", s.sessions_needing_manual_reauth);
    if let Some(t) = s.first_revocation_at_s {
        let _ = writeln!(w, "first revocation    at {t:.1}s");
    }
    let _ = writeln!(w, "side effects        {} ({} duplicate)", s.side_effects, s.duplicate_side_effects);
    if !s.duplicates_by_hop.is_empty() {
        let by: Vec<String> = s.duplicates_by_hop.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(w, "duplicates by hop   {}  (the caller whose retry sent the second copy)", by.join("  "));
    }
    let i = &s.idempotency;
    if i.replays + i.conflicts + i.mismatches + i.store_full + i.evictions + i.expirations > 0 {
        let _ = writeln!(
            w,
            "idempotency         replays {}  409 conflicts {}  422 mismatches {}  store full {}  evictions {}  expirations {}",
            i.replays, i.conflicts, i.mismatches, i.store_full, i.evictions, i.expirations
        );
    }
    let a = &s.async_work;
    if a.acknowledged > 0 {
        let _ = writeln!(
            w,
            "async work          acknowledged {}  completed {}  failed {}  lost {}  pending at end {}  lag p50 {:.0} ms p99 {:.0} ms",
            a.acknowledged, a.completed, a.failed, a.lost, a.pending_at_end, a.completion_lag.p50_ms, a.completion_lag.p99_ms
        );
    }
    for c in s.components.iter().filter(|c| c.connections_opened > 0) {
        let _ = writeln!(
            w,
            "keep-alive          {}: connections opened {}  requests on a just-closed connection {} (502)",
            c.component, c.connections_opened, c.keepalive_resets
        );
    }
    if s.restarts > 0 {
        let _ = writeln!(w, "restarts            {}", s.restarts);
    }
    if let Some(r) = &s.recovery {
        let verdict = match (r.recovered_after_trigger, r.time_to_recover_s) {
            (true, Some(t)) => format!("recovered {t:.0} s after the trigger ended"),
            _ => "NOT recovered: goodput stayed low after the trigger ended (metastable)".to_string(),
        };
        let _ = writeln!(
            w,
            "trigger             {:.0}-{:.0} s; goodput before {:.1}/s, at end {:.1}/s; {verdict}",
            r.trigger_start_s, r.trigger_end_s, r.goodput_before, r.goodput_at_end
        );
    }
    let _ = writeln!(w, "orphaned replies    {}  (work finished after its caller gave up)", s.orphaned_replies);
    let _ = writeln!(
        w,
        "service queue       max {}  mean wait {:.1} ms  P(wait) {:.3}  rejected (full) {}",
        s.max_queue_len, s.mean_queue_wait_ms, s.prob_wait, s.queue_full_rejections
    );
    if s.refreshes_coalesced + s.refresh_wait_timeouts > 0 {
        let _ = writeln!(w, "single-flight       coalesced {}  wait timeouts {}", s.refreshes_coalesced, s.refresh_wait_timeouts);
    }
    if s.encoding_rejections > 0 {
        let _ = writeln!(w, "encoding rejections {}", s.encoding_rejections);
    }
    let _ = writeln!(w, "attempts/invocation client {:.3}  amplification at the service {:.3}", s.client_attempts_per_invocation, s.amplification);
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "{:<16} {:<15} {:>10} {:>8} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9}",
        "component", "kind", "requests", "retries", "timeouts", "deadlines", "429s", "overload", "refused", "per inv"
    );
    for c in &s.components {
        let _ = writeln!(
            w,
            "{:<16} {:<15} {:>10} {:>8} {:>9} {:>9} {:>8} {:>9} {:>8} {:>9.3}",
            c.component,
            c.kind,
            c.requests,
            c.retries,
            c.try_timeouts,
            c.deadline_timeouts,
            c.rate_limited,
            c.overload_rejections,
            c.budget_refusals + c.breaker_rejections,
            c.per_invocation
        );
    }
    if let Some(h) = &s.trace_hash {
        let _ = writeln!(w, "\ntrace blake3 {h}");
    }
    o
}
