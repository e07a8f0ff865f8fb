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
    /// The service fails an extra `rate` of its requests with its failure status.
    Errors { component: String, start: SimDuration, end: SimDuration, rate: f64 },
    /// The service process restarts at `at` and is down for `down_for`: requests in it are lost
    /// (callers see a reset), and background jobs too unless its queue is durable.
    Restart { component: String, at: SimDuration, #[serde(default)] down_for: SimDuration },
    /// An admin revokes the org's authorization at `at` (every token family of the org).
    RevokeAuthorization { org: String, at: SimDuration },
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

    pub(crate) fn schedule_faults(&mut self, s: &mut Scheduler<Ev>) {
        for (i, w) in self.slow_windows.iter().enumerate() {
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
        let w = &self.slow_windows[index as usize];
        let (node, factor) = (w.node, w.factor);
        let kind = if starting { TraceKind::FaultStarted } else { TraceKind::FaultEnded };
        self.trace_raw(s.now(), kind, node, 0, 0, None, &format!("latency x{factor}"));
    }

    pub(crate) fn admin_revoke(&mut self, org: u16, s: &mut Scheduler<Ev>) {
        let fams: Vec<u32> = (0..self.families.len() as u32).filter(|f| self.families[*f as usize].org == org).collect();
        for f in fams {
            self.revoke_family(f, s);
        }
    }
}
