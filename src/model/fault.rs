//! Fault timelines: windows in which a component misbehaves, or an admin revokes an org's
//! authorization. Deterministic: the same seed gives the same faults.

use super::trace::TraceKind;
use super::world::{Ev, Sim};
use crate::engine::{Scheduler, SimDuration, SimTime};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultConfig {
    /// The component's processing latency is multiplied by `factor` between `start` and `end`.
    Slow { component: String, start: SimDuration, end: SimDuration, factor: f64 },
    /// The service fails an extra `rate` of its requests with its failure status, or, with
    /// `malformed = true`, answers them with something that is not valid HTTP (the edge and
    /// proxies turn that into 502).
    Errors {
        component: String,
        start: SimDuration,
        end: SimDuration,
        rate: f64,
        #[serde(default)]
        malformed: bool,
    },
    /// The service process restarts at `at` and is down for `down_for`: requests in it are lost
    /// (callers see a reset), and background jobs too unless its queue is durable.
    Restart {
        component: String,
        at: SimDuration,
        #[serde(default)]
        down_for: SimDuration,
    },
    /// An admin revokes the org's authorization at `at` (every token family of the org).
    RevokeAuthorization { org: String, at: SimDuration },
    /// A service runs with only `workers` workers between `start` and `end`.
    Capacity { component: String, start: SimDuration, end: SimDuration, workers: u32 },
    /// The link from `from` (a component, or a workload's name) to `to` drops everything sent
    /// on it, both ways: callers see timeouts.
    Partition { from: String, to: String, start: SimDuration, end: SimDuration },
    /// The component refuses connections (a reset) or answers `status` between `start` and
    /// `end` (e.g. the token endpoint is down).
    Unavailable {
        component: String,
        start: SimDuration,
        end: SimDuration,
        #[serde(default)]
        status: Option<u16>,
    },
}

/// A window as it appears in traces and in the time series.
#[derive(Clone, Debug)]
pub struct WindowLog {
    pub node: u16,
    pub start: SimTime,
    pub end: SimTime,
    pub label: String,
}

/// A resolved fault window.
pub struct FaultWindow {
    pub node: u16,
    pub start: SimTime,
    pub end: SimTime,
    pub factor: f64,
}

impl Sim {
    /// Latency multiplier for a component at `now` (product of the active windows).
    pub(crate) fn fault_latency_factor(&self, node: u16, now: SimTime) -> f64 {
        let mut f = 1.0;
        for w in &self.slow_windows {
            if w.node == node && w.start <= now && now < w.end {
                f *= w.factor;
            }
        }
        f
    }

    /// Extra failure rate for a component at `now` (sum of the active windows).
    pub(crate) fn fault_error_rate(&self, node: u16, now: SimTime) -> f64 {
        self.error_windows.iter().filter(|w| w.node == node && w.start <= now && now < w.end).map(|w| w.factor).sum()
    }

    /// Rate of malformed answers for a component at `now`.
    pub(crate) fn fault_malformed_rate(&self, node: u16, now: SimTime) -> f64 {
        self.malformed_windows.iter().filter(|w| w.node == node && w.start <= now && now < w.end).map(|w| w.factor).sum()
    }

    /// Workers a service may use at `now` (a capacity fault lowers it).
    pub(crate) fn fault_workers(&self, node: u16, configured: u32, now: SimTime) -> u32 {
        self.capacity_windows.iter().filter(|w| w.node == node && w.start <= now && now < w.end).map(|w| w.factor as u32).fold(configured, u32::min)
    }

    /// Whether a call spec's link is partitioned at `now`.
    pub(crate) fn partitioned(&self, spec: u32, now: SimTime) -> bool {
        self.partitions.iter().any(|(sp, a, b)| *sp == spec && *a <= now && now < *b)
    }

    /// What an unavailable component answers at `now`, if it is unavailable.
    pub(crate) fn unavailable(&self, node: u16, now: SimTime) -> Option<super::Response> {
        self.unavailable_windows.iter().find(|(n, a, b, _)| *n == node && *a <= now && now < *b).map(|(_, _, _, st)| match st {
            Some(code) => super::Response::http(*code),
            None => super::Response::status(super::Status::Reset),
        })
    }

    /// Whether any fault window is active on a component at `t` (time-series column).
    pub(crate) fn any_fault_active(&self, node: u16, t: SimTime) -> bool {
        self.fault_log.iter().any(|w| w.node == node && w.start <= t && t < w.end)
    }

    pub(crate) fn schedule_faults(&mut self, s: &mut Scheduler<Ev>) {
        for (i, w) in self.fault_log.iter().enumerate() {
            s.at(w.start, Ev::Fault { index: i as u32, starting: true });
            s.at(w.end, Ev::Fault { index: i as u32, starting: false });
        }
        for (node, at, down_for) in self.restarts.clone() {
            s.at(at, Ev::ServiceRestart { node, down_for });
        }
        for (org, at) in self.admin_revocations.clone() {
            s.at(at, Ev::AdminRevoke { org });
        }
    }

    pub(crate) fn fault_edge(&mut self, index: u32, starting: bool, s: &mut Scheduler<Ev>) {
        let w = self.fault_log[index as usize].clone();
        let kind = if starting { TraceKind::FaultStarted } else { TraceKind::FaultEnded };
        self.trace_raw(s.now(), kind, w.node, 0, 0, None, &w.label);
        if !starting {
            // Capacity is back: queued work may start.
            self.service_capacity_restored(w.node, s);
        }
    }

    pub(crate) fn admin_revoke(&mut self, org: u16, s: &mut Scheduler<Ev>) {
        let fams: Vec<u32> = (0..self.families.len() as u32).filter(|f| self.families[*f as usize].org == org).collect();
        let detail = format!("an admin revoked the authorization of org {}", self.model.orgs[org as usize].name);
        let node = self.cause(super::causes::CauseKind::Fault, s.now(), None, Some(org), None, None, detail, &[]);
        for f in fams {
            self.revoke_family(f, node, s);
        }
    }
}
