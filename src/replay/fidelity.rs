//! Fidelity: how much of what was observed the simulation reproduces.
//!
//! Invocations are matched in order within each org and session: the i-th recorded invocation of
//! a session is the i-th simulated invocation of that session (trace ids are given in start
//! order, and a replay starts exactly the recorded invocations at the recorded times). A status
//! is reproduced when the simulated outcome label equals the observed one (`200`, `401`, `502`,
//! `timeout`...). Latency, when recorded, counts as reproduced within 10 % or 5 ms.

use super::incident::{fmt_secs, Row};
use super::run::{SimInvocation, TraceLine};
use serde::Serialize;
use std::collections::BTreeMap;

/// Latency within this share of the observed value ...
pub const LATENCY_TOLERANCE: f64 = 0.10;
/// ... or within this many milliseconds, counts as reproduced.
pub const LATENCY_SLACK_MS: f64 = 5.0;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Fidelity {
    /// Recorded invocations.
    pub recorded: usize,
    /// Of them, those whose status the simulation reproduces.
    pub reproduced: usize,
    /// reproduced / recorded.
    pub rate: f64,
    /// Recorded invocations with no simulated counterpart (should be 0).
    pub unmatched: usize,
    /// `observed -> simulated` for each kind of mismatch, with counts.
    pub mismatches: BTreeMap<String, usize>,
    pub by_org: Vec<OrgFidelity>,
    pub by_minute: Vec<MinuteFidelity>,
    pub latency: LatencyFit,
    pub first_divergence: Option<Divergence>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrgFidelity {
    pub org: String,
    pub recorded: usize,
    pub reproduced: usize,
    pub rate: f64,
    pub observed: BTreeMap<String, u64>,
    pub simulated: BTreeMap<String, u64>,
    /// Latency percentiles over the rows with a recorded latency, ms (observed, then simulated
    /// for the same invocations).
    pub observed_p50_ms: Option<f64>,
    pub observed_p99_ms: Option<f64>,
    pub simulated_p50_ms: Option<f64>,
    pub simulated_p99_ms: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MinuteFidelity {
    /// Minute from time zero (0 = [0 s, 60 s)).
    pub minute: u64,
    pub recorded: usize,
    pub reproduced: usize,
    /// Recorded statuses other than 2xx in this minute, observed and simulated.
    pub observed_errors: usize,
    pub simulated_errors: usize,
}

#[derive(Clone, Debug, Serialize, PartialEq, Default)]
pub struct LatencyFit {
    /// Rows with a recorded latency and a simulated end.
    pub compared: usize,
    /// Of them, within 10 % or 5 ms.
    pub within_tolerance: usize,
    pub median_abs_error_ms: f64,
}

/// The first recorded invocation whose status the simulation does not reproduce.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Divergence {
    pub time_s: String,
    /// Line in the observations file.
    pub line: usize,
    pub org: String,
    pub session: u32,
    /// 0-based position of the invocation within its session.
    pub nth_in_session: usize,
    pub invocation: Option<u64>,
    pub observed: String,
    pub simulated: String,
    /// The org's token events (rotation lost, reuse, revocation, re-authorization) before it.
    pub token_events: Vec<String>,
    /// Trace rows of the org around it (CSV, as in the trace).
    pub context: Vec<String>,
}

const TOKEN_EVENTS: &[&str] = &["rotation_lost", "grace_reuse", "reuse_detected", "family_revoked", "reauth_required", "manual_reauth"];

fn is_success(status: &str) -> bool {
    status.len() == 3 && status.starts_with('2')
}

fn quantile(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1])
}

/// Per-org tallies while matching.
#[derive(Default)]
struct OrgAcc {
    recorded: usize,
    reproduced: usize,
    observed: BTreeMap<String, u64>,
    simulated: BTreeMap<String, u64>,
    observed_ms: Vec<f64>,
    simulated_ms: Vec<f64>,
}

/// Matches observations with a simulated run.
pub fn measure(rows: &[Row], orgs: &[String], lines: &[TraceLine], invs: &[SimInvocation]) -> Fidelity {
    let mut sim_by_session: BTreeMap<(&str, u32), Vec<&SimInvocation>> = BTreeMap::new();
    for inv in invs {
        sim_by_session.entry((inv.org.as_str(), inv.session)).or_default().push(inv);
    }
    let mut seen: BTreeMap<(&str, u32), usize> = BTreeMap::new();
    let mut org_acc: BTreeMap<&str, OrgAcc> = BTreeMap::new();
    let mut minutes: BTreeMap<u64, MinuteFidelity> = BTreeMap::new();
    let mut mismatches = BTreeMap::new();
    let (mut reproduced, mut unmatched) = (0, 0);
    let mut latency = LatencyFit::default();
    let mut abs_errors = vec![];
    let mut first: Option<(&Row, usize, Option<&SimInvocation>, String)> = None;
    for r in rows {
        let n = seen.entry((r.org.as_str(), r.session)).or_insert(0);
        let nth = *n;
        *n += 1;
        let sim = sim_by_session.get(&(r.org.as_str(), r.session)).and_then(|v| v.get(nth)).copied();
        let sim_status = match sim {
            Some(i) => i.status.clone().unwrap_or_else(|| "unfinished".into()),
            None => {
                unmatched += 1;
                "missing".into()
            }
        };
        let ok = sim_status == r.status;
        let acc = org_acc.entry(r.org.as_str()).or_default();
        acc.recorded += 1;
        *acc.observed.entry(r.status.clone()).or_insert(0) += 1;
        *acc.simulated.entry(sim_status.clone()).or_insert(0) += 1;
        let m = r.time.micros() / 60_000_000;
        let mf = minutes.entry(m).or_insert(MinuteFidelity { minute: m, recorded: 0, reproduced: 0, observed_errors: 0, simulated_errors: 0 });
        mf.recorded += 1;
        mf.observed_errors += usize::from(!is_success(&r.status));
        mf.simulated_errors += usize::from(!is_success(&sim_status));
        if ok {
            reproduced += 1;
            acc.reproduced += 1;
            mf.reproduced += 1;
        } else {
            *mismatches.entry(format!("{} -> {}", r.status, sim_status)).or_insert(0) += 1;
            if first.is_none() {
                first = Some((r, nth, sim, sim_status.clone()));
            }
        }
        if let (Some(obs), Some(i)) = (r.latency, sim) {
            if let Some(end) = i.ended_us {
                let (o, s) = (obs.micros() as f64 / 1000.0, (end - i.started_us) as f64 / 1000.0);
                latency.compared += 1;
                if (s - o).abs() <= (o * LATENCY_TOLERANCE).max(LATENCY_SLACK_MS) {
                    latency.within_tolerance += 1;
                }
                abs_errors.push((s - o).abs());
                acc.observed_ms.push(o);
                acc.simulated_ms.push(s);
            }
        }
    }
    latency.median_abs_error_ms = quantile(&mut abs_errors, 0.5).unwrap_or(0.0);
    let by_org = orgs
        .iter()
        .filter_map(|o| {
            let OrgAcc { recorded: rec, reproduced: rep, observed: obs, simulated: sim, observed_ms: mut lo, simulated_ms: mut ls } =
                org_acc.remove(o.as_str())?;
            Some(OrgFidelity {
                org: o.clone(),
                recorded: rec,
                reproduced: rep,
                rate: rep as f64 / rec as f64,
                observed: obs,
                simulated: sim,
                observed_p50_ms: quantile(&mut lo, 0.5),
                observed_p99_ms: quantile(&mut lo, 0.99),
                simulated_p50_ms: quantile(&mut ls, 0.5),
                simulated_p99_ms: quantile(&mut ls, 0.99),
            })
        })
        .collect();
    let first_divergence = first.map(|(r, nth, sim, sim_status)| divergence(r, nth, sim, sim_status, lines));
    Fidelity {
        recorded: rows.len(),
        reproduced,
        rate: if rows.is_empty() { 0.0 } else { reproduced as f64 / rows.len() as f64 },
        unmatched,
        mismatches,
        by_org,
        by_minute: minutes.into_values().collect(),
        latency,
        first_divergence,
    }
}

fn divergence(r: &Row, nth: usize, sim: Option<&SimInvocation>, simulated: String, lines: &[TraceLine]) -> Divergence {
    let mut context = vec![];
    let mut token_events = vec![];
    if let Some(i) = sim {
        // The org's last rows before the invocation started, then the invocation's own rows.
        let org_rows: Vec<usize> = (0..lines.len()).filter(|k| lines[*k].org == r.org).collect();
        let start = org_rows.partition_point(|k| *k < i.first_row);
        context.extend(org_rows[start.saturating_sub(3)..start].iter().map(|k| lines[*k].raw.clone()));
        let own: Vec<usize> = (i.first_row..=i.last_row).filter(|k| lines[*k].invocation == Some(i.id)).collect();
        const MAX: usize = 14;
        if own.len() > MAX {
            context.extend(own[..4].iter().map(|k| lines[*k].raw.clone()));
            context.push(format!("... {} rows of this invocation ...", own.len() - MAX + 1));
            context.extend(own[own.len() - (MAX - 5)..].iter().map(|k| lines[*k].raw.clone()));
        } else {
            context.extend(own.iter().map(|k| lines[*k].raw.clone()));
        }
        let end = org_rows.partition_point(|k| *k <= i.last_row);
        let mut ev: Vec<String> = org_rows[..end].iter().filter(|k| TOKEN_EVENTS.contains(&lines[**k].event.as_str())).map(|k| lines[*k].raw.clone()).collect();
        let skip = ev.len().saturating_sub(5);
        token_events = ev.split_off(skip);
    }
    Divergence {
        time_s: fmt_secs(r.time),
        line: r.line,
        org: r.org.clone(),
        session: r.session,
        nth_in_session: nth,
        invocation: sim.map(|i| i.id),
        observed: r.status.clone(),
        simulated,
        token_events,
        context,
    }
}
