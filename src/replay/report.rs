//! The replay report as text (the JSON form is `serde_json` of [`super::ReplayReport`]).

use super::{Outcome, ReplayReport};
use std::collections::BTreeMap;
use std::fmt::Write;

fn outcomes(m: &BTreeMap<String, u64>) -> String {
    m.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(" ")
}

fn pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

fn ms(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into())
}

/// The whole report, as printed by `edgesim replay`.
pub fn to_text(r: &ReplayReport) -> String {
    let mut s = String::new();
    let f = &r.fidelity;
    let _ = writeln!(s, "replay of {}{}", r.incident, if r.description.is_empty() { String::new() } else { format!(": {}", r.description) });
    let _ = writeln!(s, "model {}  seed {}  time zero {}  window {} s  fault windows {}", r.model_file, r.seed, r.time_zero, r.window_s, r.faults);
    let _ = writeln!(s, "recorded invocations {}  skipped rows {}  redacted values {}", r.recorded, r.skipped, r.redacted);
    let _ = writeln!(s, "trace blake3 {}", r.baseline.trace_hash);
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "fidelity            {} of {} observed statuses reproduced ({}){}",
        f.reproduced,
        f.recorded,
        pct(f.rate),
        if f.unmatched > 0 { format!("; {} recorded invocations have no simulated counterpart", f.unmatched) } else { String::new() }
    );
    if f.latency.compared > 0 {
        let _ = writeln!(
            s,
            "latency             {} of {} recorded latencies within 10 % or 5 ms ({}), median error {:.1} ms",
            f.latency.within_tolerance,
            f.latency.compared,
            pct(f.latency.within_tolerance as f64 / f.latency.compared as f64),
            f.latency.median_abs_error_ms
        );
    }
    if !f.mismatches.is_empty() {
        let _ = writeln!(s, "mismatches          {}", f.mismatches.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", "));
    }
    let _ = writeln!(s);
    let ow = f.by_org.iter().map(|o| outcomes(&o.observed).len()).chain(f.by_org.iter().map(|o| outcomes(&o.simulated).len())).max().unwrap_or(8).max(8);
    let _ = writeln!(
        s,
        "{:<8} {:>9} {:>11} {:>9}  {:<ow$}  {:<ow$}  {:>10} {:>10}",
        "org", "recorded", "reproduced", "fidelity", "observed", "simulated", "p99 obs ms", "p99 sim ms"
    );
    for o in &f.by_org {
        let _ = writeln!(
            s,
            "{:<8} {:>9} {:>11} {:>9}  {:<ow$}  {:<ow$}  {:>10} {:>10}",
            o.org,
            o.recorded,
            o.reproduced,
            pct(o.rate),
            outcomes(&o.observed),
            outcomes(&o.simulated),
            ms(o.observed_p99_ms),
            ms(o.simulated_p99_ms)
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{:>6} {:>9} {:>11} {:>9} {:>13} {:>14}", "minute", "recorded", "reproduced", "fidelity", "errors seen", "errors in sim");
    for m in &f.by_minute {
        let _ = writeln!(
            s,
            "{:>6} {:>9} {:>11} {:>9} {:>13} {:>14}",
            m.minute,
            m.recorded,
            m.reproduced,
            pct(m.reproduced as f64 / m.recorded as f64),
            m.observed_errors,
            m.simulated_errors
        );
    }
    let _ = writeln!(s);
    match &f.first_divergence {
        None => {
            let _ = writeln!(s, "first divergence    none: the model reproduces every observed status");
        }
        Some(d) => {
            let _ = writeln!(
                s,
                "first divergence    t={} s (observations line {}), org {} session {}, its invocation #{} (trace id {}): observed {}, simulated {}",
                d.time_s,
                d.line,
                d.org,
                d.session,
                d.nth_in_session + 1,
                d.invocation.map(|i| i.to_string()).unwrap_or_else(|| "-".into()),
                d.observed,
                d.simulated
            );
            if !d.token_events.is_empty() {
                let _ = writeln!(s, "  the org's token events before it:");
                for l in &d.token_events {
                    let _ = writeln!(s, "    {l}");
                }
            }
            if !d.context.is_empty() {
                let _ = writeln!(s, "  trace around it (time_us,event,component,org,session,invocation,attempt,status,detail):");
                for l in &d.context {
                    let _ = writeln!(s, "    {l}");
                }
            }
        }
    }
    let _ = writeln!(s);
    s.push_str(&what_if_table(r));
    s
}

/// The baseline and each what-if side by side, then per org.
pub fn what_if_table(r: &ReplayReport) -> String {
    let mut s = String::new();
    let all: Vec<&Outcome> = std::iter::once(&r.baseline).chain(&r.what_ifs).collect();
    // Long what-ifs (several overrides) get a short name and a legend line.
    const LONG: usize = 60;
    let names: Vec<String> = all.iter().enumerate().map(|(i, o)| if o.label.len() > LONG { format!("what-if {i}") } else { o.label.clone() }).collect();
    let w = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
    let title = if r.what_ifs.is_empty() { "outcome (no --what-if given)" } else { "what-ifs on the same recorded arrivals and seed" };
    let _ = writeln!(s, "{title}");
    for (n, o) in names.iter().zip(&all) {
        if *n != o.label {
            let _ = writeln!(s, "  {n}: {}", o.label);
        }
    }
    let _ = writeln!(
        s,
        "{:<w$}  {:>7} {:>9} {:>9} {:>6} {:>5} {:>9} {:>8} {:>10}",
        "scenario", "revoked", "first rev", "lost rot", "401s", "dups", "p99 ms", "success", "= observed"
    );
    for (n, o) in names.iter().zip(&all) {
        let _ = writeln!(
            s,
            "{:<w$}  {:>7} {:>9} {:>9} {:>6} {:>5} {:>9.1} {:>8} {:>10}",
            n,
            if o.revocation { "yes" } else { "no" },
            o.first_revocation_at_s.map(|t| format!("{t:.1}s")).unwrap_or_else(|| "-".into()),
            o.lost_rotations,
            o.unauthorized_401,
            o.duplicate_side_effects,
            o.p99_ms,
            pct(o.success_rate),
            format!("{}/{}", o.matches_observed, r.recorded)
        );
    }
    let orgs: Vec<&str> = r.baseline.orgs.iter().map(|o| o.org.as_str()).collect();
    let _ = writeln!(s, "per org: 401s / revocations / duplicates / p99 ms");
    let _ = write!(s, "{:<w$} ", "scenario");
    for o in &orgs {
        let _ = write!(s, " {o:>24}");
    }
    let _ = writeln!(s);
    for (n, o) in names.iter().zip(&all) {
        let _ = write!(s, "{n:<w$} ");
        for org in &o.orgs {
            let _ = write!(s, " {:>24}", format!("{} / {} / {} / {:.1}", org.unauthorized_401, org.family_revocations, org.duplicate_side_effects, org.p99_ms));
        }
        let _ = writeln!(s);
    }
    s
}
