//! Who calls: per org, open Poisson arrivals (with rate steps over time), bursts (N invocations
//! at time t), or closed-loop sessions (N sessions, each waiting for its answer and thinking
//! before the next call). Open and closed workloads answer the backoff question differently
//! (Brooker, "What is backoff for?", 2022), so both exist.

use super::call::{Owner, PayloadTemplate};
use super::retry::RetryPolicy;
use super::trace::TraceKind;
use super::world::{Ev, Sim};
use super::{InvocationKey, Response};
use crate::engine::{Dist, LimitExceeded, Scheduler, SimDuration, SimTime};
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadConfig {
    /// Name of this workload's random stream (default `workload-<org>-<index>`).
    #[serde(default)]
    pub name: Option<String>,
    pub org: String,
    /// The component invocations are sent to (usually the edge).
    pub target: String,
    pub arrivals: Arrivals,
    /// The client's own policy towards the target.
    #[serde(default)]
    pub client: ClientConfig,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Arrivals {
    /// Open Poisson arrivals at `rate` per second; `steps` change the rate at given times.
    Poisson {
        rate: f64,
        #[serde(default)]
        steps: Vec<RateStep>,
    },
    /// `count` invocations at `at`, spread uniformly over `spread` (0: all at once).
    Burst {
        at: SimDuration,
        count: u32,
        #[serde(default)]
        spread: SimDuration,
    },
    /// `sessions` closed-loop sessions: each sends, waits for the answer, thinks, sends again.
    Closed { sessions: u32, think: Dist },
    /// Recorded arrivals replayed exactly (`edgesim replay`): invocation `i` starts at `times[i]`
    /// in session `sessions[i]` (session 0 when `sessions` is empty). Nothing is sampled.
    Trace {
        times: Vec<SimDuration>,
        #[serde(default)]
        sessions: Vec<u32>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateStep {
    pub at: SimDuration,
    pub rate: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    #[serde(default = "super::config::zero_latency")]
    pub latency: Dist,
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    #[serde(default)]
    pub deadline: Option<SimDuration>,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default)]
    pub retry_budget: Option<super::resilience::RetryBudgetConfig>,
    #[serde(default)]
    pub circuit_breaker: Option<super::resilience::CircuitBreakerConfig>,
    /// The client sends its own Idempotency-Key (the invocation's id).
    #[serde(default)]
    pub idempotency_keys: bool,
    /// Each try rebuilds the body (e.g. a timestamp): same key, different payload.
    #[serde(default)]
    pub new_payload_on_retry: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            latency: super::config::zero_latency(),
            timeout: None,
            deadline: None,
            retry: RetryPolicy::default(),
            retry_budget: None,
            circuit_breaker: None,
            idempotency_keys: false,
            new_payload_on_retry: false,
        }
    }
}

pub struct Workload {
    pub org: u16,
    pub rng: usize,
    pub spec: u32,
    pub arrivals: Arrivals,
    pub next_step: usize,
    pub rate: f64,
    pub sessions_in_org: u32,
    pub idempotency_keys: bool,
}

/// One Data Action execution.
pub struct Invocation {
    /// Sequential id, for traces and reports.
    pub id: u64,
    pub org: u16,
    pub session: u32,
    pub workload: u32,
    pub started: SimTime,
    pub ended: bool,
    /// Attempts on the wire that still belong to this invocation.
    pub refs: u32,
    /// Times the service performed this invocation's side effect.
    pub side_effects: u32,
    /// For closed workloads: the session to wake when this invocation ends.
    pub closed_session: Option<u32>,
    /// The caller whose retry sent a copy that performed the side effect.
    pub effect_retried_by: Option<String>,
    /// Cause node of the retry behind the first side effect, if any.
    pub effect_cause: u32,
}

impl Sim {
    /// Schedules each workload's first arrivals.
    pub(crate) fn start_workloads(&mut self, s: &mut Scheduler<Ev>) {
        for w in 0..self.workloads.len() {
            let wl = &mut self.workloads[w];
            let rng = &mut self.rngs[wl.rng];
            match wl.arrivals.clone() {
                Arrivals::Poisson { .. } => self.schedule_poisson(w as u32, s),
                Arrivals::Burst { at, count, spread } => {
                    for _ in 0..count {
                        let off = if spread.is_zero() { 0 } else { rng.gen_range(0..=spread.micros()) };
                        s.at(SimTime(at.micros() + off), Ev::Arrival { workload: w as u32, session: None });
                    }
                }
                Arrivals::Closed { sessions, think } => {
                    for i in 0..sessions {
                        let d = think.sample(rng);
                        s.after(d, Ev::Arrival { workload: w as u32, session: Some(i) });
                    }
                }
                // The session travels in the event as a closed session's does; only `Closed`
                // schedules a next call when an invocation ends, so nothing follows a recorded one.
                Arrivals::Trace { times, sessions } => {
                    for (i, t) in times.iter().enumerate() {
                        let session = sessions.get(i).copied().unwrap_or(0);
                        s.at(SimTime(t.micros()), Ev::Arrival { workload: w as u32, session: Some(session) });
                    }
                }
            }
        }
    }

    /// Next Poisson arrival. At a rate step the draw restarts at the step with the new rate:
    /// exponential gaps are memoryless, so this is exact.
    fn schedule_poisson(&mut self, w: u32, s: &mut Scheduler<Ev>) {
        let wl = &mut self.workloads[w as usize];
        let Arrivals::Poisson { steps, .. } = &wl.arrivals else { return };
        let mut t = s.now();
        loop {
            let next_step_at = steps.get(wl.next_step).map(|st| SimTime(st.at.micros()));
            let gap = if wl.rate > 0.0 {
                let u: f64 = self.rngs[wl.rng].gen::<f64>();
                Some(SimDuration::from_secs_f64(-(1.0 - u).ln() / wl.rate))
            } else {
                None
            };
            match (gap, next_step_at) {
                (Some(g), Some(st)) if t + g >= st => {
                    t = st;
                    wl.rate = steps[wl.next_step].rate;
                    wl.next_step += 1;
                }
                (None, Some(st)) => {
                    t = st;
                    wl.rate = steps[wl.next_step].rate;
                    wl.next_step += 1;
                }
                (Some(g), _) => {
                    let at = t + g;
                    if at < self.arrivals_end {
                        s.at(at, Ev::Arrival { workload: w, session: None });
                    }
                    return;
                }
                (None, None) => return,
            }
        }
    }

    pub(crate) fn workload_arrival(&mut self, w: u32, closed_session: Option<u32>, s: &mut Scheduler<Ev>) -> Result<(), LimitExceeded> {
        let now = s.now();
        if now >= self.arrivals_end {
            return Ok(());
        }
        let wl = &self.workloads[w as usize];
        let (org, spec, sessions) = (wl.org, wl.spec, wl.sessions_in_org);
        let is_poisson = matches!(wl.arrivals, Arrivals::Poisson { .. });
        let session = match closed_session {
            Some(i) => i % sessions,
            None if sessions > 1 => self.rngs[wl.rng].gen_range(0..sessions),
            None => 0,
        };
        if self.invocations.len() as u64 >= self.model.limits.max_open_invocations {
            return Err(LimitExceeded {
                what: "open invocations",
                value: self.model.limits.max_open_invocations,
                setting: "limits.max_open_invocations",
                at: now.to_string(),
            });
        }
        if self.in_flight >= self.model.limits.max_in_flight {
            return Err(LimitExceeded {
                what: "requests in flight",
                value: self.model.limits.max_in_flight,
                setting: "limits.max_in_flight",
                at: now.to_string(),
            });
        }
        let id = self.next_invocation_id;
        self.next_invocation_id += 1;
        let inv = self.invocations.insert(Invocation {
            id,
            org,
            session,
            workload: w,
            started: now,
            ended: false,
            refs: 0,
            side_effects: 0,
            closed_session,
            effect_retried_by: None,
            effect_cause: super::causes::NONE,
        });
        let key = self.workloads[w as usize].idempotency_keys.then_some(id);
        self.metrics.invocations_started += 1;
        self.ts_client(true, None);
        self.metrics.orgs[org as usize].invocations += 1;
        self.trace_raw(now, TraceKind::InvocationStarted, u16::MAX, org, session, Some(inv), "");
        self.start_exchange(spec, Owner::Invocation(inv), Some(inv), org, session, PayloadTemplate::Webhook { key }, s);
        if is_poisson {
            self.schedule_poisson(w, s);
        }
        Ok(())
    }

    /// The client has its answer: the invocation ends with exactly one outcome.
    pub(crate) fn invocation_finished(&mut self, inv: InvocationKey, response: Response, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let Some(i) = self.invocations.get_mut(inv) else { return };
        debug_assert!(!i.ended, "an invocation ended twice");
        i.ended = true;
        let (org, started, w, closed) = (i.org, i.started, i.workload, i.closed_session);
        let latency = now.since(started);
        self.metrics.record_outcome(org, response.status, latency, now);
        if response.status == super::Status::Http(401) {
            let session = self.invocations[inv].session;
            self.record_unauthorized(org, session, now);
        }
        self.ts_client(false, Some(response.status));
        if let Some(g) = self.goodput.as_mut() {
            g.record(now, response.status.is_success());
        }
        if self.trace.is_some() {
            self.trace_raw(now, TraceKind::InvocationEnded, u16::MAX, org, self.invocations[inv].session, Some(inv), &response.status.label());
        }
        if let Some(sess) = closed {
            if let Arrivals::Closed { think, .. } = &self.workloads[w as usize].arrivals {
                let d = think.sample(&mut self.rngs[self.workloads[w as usize].rng]);
                s.after(d, Ev::Arrival { workload: w, session: Some(sess) });
            }
        }
        self.maybe_free_invocation(inv);
    }

    pub(crate) fn unref_invocation(&mut self, inv: InvocationKey) {
        if let Some(i) = self.invocations.get_mut(inv) {
            i.refs -= 1;
            self.maybe_free_invocation(inv);
        }
    }

    fn maybe_free_invocation(&mut self, inv: InvocationKey) {
        if let Some(i) = self.invocations.get(inv) {
            if i.ended && i.refs == 0 {
                self.invocations.remove(inv);
            }
        }
    }

    /// The service performed the invocation's side effect. A second time is a duplicate,
    /// attributed to the hop whose retry sent this copy.
    pub(crate) fn record_side_effect(&mut self, inv: InvocationKey, retried_by: Option<String>, retry_cause: u32, background: bool, now: SimTime) {
        let Some(i) = self.invocations.get_mut(inv) else { return };
        i.side_effects += 1;
        let (n, org, session, started) = (i.side_effects, i.org, i.session, i.started);
        // A duplicate needs two copies; whichever finishes second, the retry that made the
        // second copy is the cause.
        let retried_by = retried_by.or_else(|| i.effect_retried_by.clone());
        if i.effect_retried_by.is_none() {
            i.effect_retried_by = retried_by.clone();
        }
        self.metrics.side_effects += 1;
        if background {
            let _ = self.metrics.completion_lag.record(now.since(started).micros());
        }
        if n > 1 {
            self.metrics.duplicate_side_effects += 1;
            self.metrics.orgs[org as usize].duplicate_side_effects += 1;
            let hop = retried_by.unwrap_or_else(|| "unknown".into());
            *self.metrics.duplicates_by_hop.entry(hop.clone()).or_insert(0) += 1;
            self.trace_raw(
                now,
                TraceKind::DuplicateSideEffect,
                u16::MAX,
                org,
                session,
                Some(inv),
                &format!("side effect #{n} for this invocation; copy sent by a retry of {hop}"),
            );
            let id = self.invocations[inv].id;
            let parent = if retry_cause != super::causes::NONE { retry_cause } else { self.invocations[inv].effect_cause };
            self.cause(
                super::causes::CauseKind::DuplicateSideEffect,
                now,
                None,
                Some(org),
                Some(session),
                Some(id),
                format!("the service performed invocation {id}'s work a second time (copy sent by a retry of {hop})"),
                &[parent],
            );
        } else if let Some(i) = self.invocations.get_mut(inv) {
            i.effect_cause = retry_cause;
        }
    }
}
