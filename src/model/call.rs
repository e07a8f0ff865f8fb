//! What every caller does with a call: send an attempt, wait for the reply, time it out, retry
//! with backoff, give up at the deadline. **This file is where "what happens when a hop times out"
//! is decided**, for the workload's client, the edge, every proxy and the service's outbound calls.
//!
//! A timeout does not stop the work downstream. The attempt is marked abandoned and the callee is
//! told the connection went away; only a callee configured with `cancel_on_disconnect` stops its
//! work. Anything else goes on as orphaned work: a token endpoint still rotates the refresh token,
//! a service still performs its side effect, and the reply, when it comes, reaches nobody.

use super::resilience::{CircuitBreaker, RetryBudget};
use super::retry::RetryPolicy;
use super::world::{Ev, Sim};
use super::{AttemptKey, Body, ExchangeKey, InvocationKey, JobKey, NodeId, Payload, Response, Status};
use crate::engine::{Dist, Scheduler, SimDuration, SimTime};
use crate::model::trace::TraceKind;

/// A resolved outbound call: from a caller to a target, with the caller's policy.
#[derive(Clone, Debug)]
pub struct CallSpec {
    /// Index of the random stream used for this link's latency (the caller's stream).
    pub rng: usize,
    /// Component or workload name of the caller, for traces.
    pub caller_name: String,
    pub target: NodeId,
    /// One-way network latency of the link (sampled for the request and again for the reply).
    pub latency: Dist,
    /// Per-try timeout.
    pub try_timeout: Option<SimDuration>,
    /// Overall deadline including all retries.
    pub deadline: Option<SimDuration>,
    pub retry: RetryPolicy,
    pub budget: Option<RetryBudget>,
    pub breaker: Option<CircuitBreaker>,
    /// Attempts of this call in flight (the caller still waiting), and how many are retries.
    pub active_requests: u32,
    pub active_retries: u32,
    /// Each try sends a new body (only for workload clients).
    pub new_payload_on_retry: bool,
}

/// Who is waiting for an exchange to finish.
#[derive(Copy, Clone, Debug)]
pub enum Owner {
    /// The workload's client, for an invocation.
    Invocation(InvocationKey),
    /// An edge or proxy forwarding its incoming attempt (on pooled connection `conn`).
    Hop { node: NodeId, incoming: AttemptKey, conn: u32 },
    /// A service job's outbound call (refresh or platform API).
    Job(JobKey),
    /// A token cache's single-flight refresh.
    Cache(u32),
}

/// What to send on each attempt. A refresh reads the refresh token from the cache when the attempt
/// is sent, so a retry after a lost rotation presents the stale token, exactly as in production.
#[derive(Copy, Clone, Debug)]
pub enum PayloadTemplate {
    /// A webhook call; `key` is sent as Idempotency-Key when set.
    Webhook {
        key: Option<u64>,
    },
    Refresh {
        cache: u32,
    },
    Fixed(Payload),
}

pub struct Exchange {
    pub owner: Owner,
    pub spec: u32,
    pub invocation: Option<InvocationKey>,
    pub org: u16,
    pub session: u32,
    pub template: PayloadTemplate,
    pub attempts_made: u32,
    pub started: SimTime,
    pub current: Option<AttemptKey>,
    pub previous_sleep: SimDuration,
    pub last: Option<Response>,
    /// Cause node of the last try's failure (a timeout), or NONE.
    pub failure_cause: u32,
    /// Cause node of the pending retry, or NONE.
    pub retry_cause: u32,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AttemptState {
    InFlight,
    /// The caller gave up (timeout, deadline or cancellation); the work may go on.
    Abandoned,
}

/// What the callee is doing for an attempt, so that a disconnect can reach it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Work {
    None,
    Exchange(ExchangeKey),
    Job(JobKey),
}

pub struct Attempt {
    pub exchange: ExchangeKey,
    pub spec: u32,
    pub callee: NodeId,
    pub invocation: Option<InvocationKey>,
    pub org: u16,
    pub session: u32,
    pub payload: Payload,
    /// 1 for the first attempt of its exchange.
    pub number: u32,
    pub sent_at: SimTime,
    pub state: AttemptState,
    pub response: Response,
    pub work: Work,
    /// Set by `respond`: the reply is on the wire.
    pub answered: bool,
    /// Dropped by a partition (the request, or the reply): nothing will arrive.
    pub lost: bool,
    /// Cause node that made this attempt be sent (its retry), or NONE.
    pub cause: u32,
    /// Cause node of this attempt's timeout, or NONE.
    pub timeout_cause: u32,
}

impl Sim {
    /// Starts a call and sends its first attempt.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_exchange(
        &mut self,
        spec: u32,
        owner: Owner,
        invocation: Option<InvocationKey>,
        org: u16,
        session: u32,
        template: PayloadTemplate,
        s: &mut Scheduler<Ev>,
    ) -> ExchangeKey {
        let now = s.now();
        let key = self.exchanges.insert(Exchange {
            owner,
            spec,
            invocation,
            org,
            session,
            template,
            attempts_made: 0,
            started: now,
            current: None,
            previous_sleep: self.specs[spec as usize].retry.backoff.base,
            last: None,
            failure_cause: super::causes::NONE,
            retry_cause: super::causes::NONE,
        });
        if let Some(d) = self.specs[spec as usize].deadline {
            s.after_fifo(spec as usize * 2, d, Ev::Deadline { exchange: key });
        }
        self.send_attempt(key, s);
        key
    }

    /// Sends the next attempt of an exchange (first try, or a retry after its backoff).
    pub(crate) fn send_attempt(&mut self, key: ExchangeKey, s: &mut Scheduler<Ev>) {
        let Some(ex) = self.exchanges.get_mut(key) else { return };
        if ex.current.is_some() {
            return;
        }
        ex.attempts_made += 1;
        let number = ex.attempts_made;
        let (spec_ix, invocation, org, session, template, cause) = (ex.spec, ex.invocation, ex.org, ex.session, ex.template, ex.retry_cause);
        let payload = match template {
            PayloadTemplate::Webhook { key } => {
                // A client that rebuilds the body on each try (a timestamp, a nonce) sends a new
                // fingerprint under the same key.
                let fingerprint = if self.specs[spec_ix as usize].new_payload_on_retry { number - 1 } else { 0 };
                Payload::Webhook { key, fingerprint }
            }
            PayloadTemplate::Fixed(p) => p,
            PayloadTemplate::Refresh { cache } => {
                let c = &self.caches[cache as usize];
                Payload::Refresh { token: c.refresh, encoding: c.encoding }
            }
        };
        let now = s.now();
        let spec = &mut self.specs[spec_ix as usize];
        let target = spec.target;
        let (active, retries) = (spec.active_requests, spec.active_retries);
        if let Some(cb) = spec.breaker.as_mut() {
            if !cb.admit(now, active, retries, number > 1) {
                let status = cb.config.open_status;
                self.metrics.breaker_rejections[target as usize] += 1;
                let ex = &mut self.exchanges[key];
                ex.last = Some(Response::http(status));
                s.after(SimDuration::ZERO, Ev::LocalReject { exchange: key });
                return;
            }
        }
        spec.active_requests += 1;
        if number > 1 {
            spec.active_retries += 1;
        }
        let spec = &self.specs[spec_ix as usize];
        let try_timeout = spec.try_timeout;
        let latency = spec.latency.sample(&mut self.rngs[spec.rng]);
        let attempt = self.attempts.insert(Attempt {
            exchange: key,
            spec: spec_ix,
            callee: target,
            invocation,
            org,
            session,
            payload,
            number,
            sent_at: now,
            state: AttemptState::InFlight,
            response: Response::http(0),
            work: Work::None,
            answered: false,
            lost: false,
            cause,
            timeout_cause: super::causes::NONE,
        });
        self.exchanges[key].current = Some(attempt);
        if let Some(inv) = invocation {
            if let Some(i) = self.invocations.get_mut(inv) {
                i.refs += 1;
            }
        }
        self.in_flight += 1;
        self.metrics.requests_sent[target as usize] += 1;
        if number > 1 {
            self.metrics.retries_sent[target as usize] += 1;
            self.ts_retry(target as usize);
        }
        self.trace_attempt(now, TraceKind::AttemptSent, attempt, "");
        if self.partitioned(spec_ix, now) {
            self.attempts[attempt].lost = true;
            self.metrics.partition_drops += 1;
        } else {
            s.after(latency, Ev::Deliver { attempt });
        }
        if let Some(t) = try_timeout {
            s.after_fifo(spec_ix as usize * 2 + 1, t, Ev::TryTimeout { attempt });
        }
    }

    /// The callee answers an attempt: the reply travels back over the link.
    pub(crate) fn respond(&mut self, attempt: AttemptKey, response: Response, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get_mut(attempt) else { return };
        if a.answered {
            return;
        }
        a.answered = true;
        a.response = response;
        a.work = Work::None;
        let callee = a.callee as usize;
        self.ts_answered(callee, response.status);
        let a = &self.attempts[attempt];
        let spec_ix = a.spec;
        if self.partitioned(spec_ix, s.now()) {
            self.attempts[attempt].lost = true;
            self.metrics.partition_drops += 1;
            if self.attempts[attempt].state == AttemptState::Abandoned {
                self.release_attempt(attempt);
            }
            return;
        }
        let spec = &self.specs[spec_ix as usize];
        let latency = spec.latency.sample(&mut self.rngs[spec.rng]);
        s.after(latency, Ev::Reply { attempt });
    }

    /// Frees an attempt and its hold on the invocation.
    fn release_attempt(&mut self, attempt: AttemptKey) -> Option<Attempt> {
        let a = self.attempts.remove(attempt)?;
        self.in_flight -= 1;
        if let Some(inv) = a.invocation {
            self.unref_invocation(inv);
        }
        Some(a)
    }

    /// A reply reaches the caller (or nobody, if the caller already gave up).
    pub(crate) fn reply_arrived(&mut self, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let state = match self.attempts.get(attempt) {
            Some(a) => a.state,
            None => return,
        };
        if state == AttemptState::Abandoned {
            self.trace_attempt(now, TraceKind::OrphanReply, attempt, "");
            let a = self.release_attempt(attempt).expect("present");
            self.metrics.orphaned_replies += 1;
            // Only a reply that carries a newer refresh token than the one presented is a lost
            // rotation (without rotation, or inside a grace window, nothing new was issued).
            if let (Payload::Refresh { token, .. }, Body::Tokens { refresh, .. }) = (a.payload, a.response.body) {
                if (refresh.epoch, refresh.generation) <= (token.epoch, token.generation) {
                    return;
                }
                self.record_lost_rotation(&a, refresh, now);
                // The token endpoint rotated and nobody will ever store the new pair.
                self.metrics.lost_rotations += 1;
                self.trace_raw(now, TraceKind::RotationLost, a.callee, a.org, a.session, a.invocation, "rotated refresh token never reached the cache");
            }
            return;
        }
        self.trace_attempt(now, TraceKind::ReplyReceived, attempt, "");
        self.caller_stops_waiting(attempt);
        let a = self.release_attempt(attempt).expect("present");
        let Some(ex) = self.exchanges.get_mut(a.exchange) else { return };
        ex.current = None;
        ex.last = Some(a.response);
        self.after_try(a.exchange, a.response, s);
    }

    /// A per-try timeout fires.
    pub(crate) fn try_timed_out(&mut self, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get(attempt) else { return };
        if a.state != AttemptState::InFlight {
            return;
        }
        let (exchange, callee) = (a.exchange, a.callee);
        let tc = self.record_timeout(attempt, "per-try timeout", s.now());
        self.trace_attempt(s.now(), TraceKind::TryTimeout, attempt, "");
        self.metrics.try_timeouts[callee as usize] += 1;
        self.ts_try_timeout(callee as usize);
        self.abandon_attempt(attempt, s);
        if let Some(ex) = self.exchanges.get_mut(exchange) {
            ex.current = None;
            let r = Response::status(Status::TimedOut);
            ex.last = Some(r);
            ex.failure_cause = tc;
            self.after_try(exchange, r, s);
        }
    }

    /// The exchange's overall deadline passes: stop whatever is in flight and give up.
    pub(crate) fn deadline_passed(&mut self, exchange: ExchangeKey, s: &mut Scheduler<Ev>) {
        let Some(ex) = self.exchanges.get_mut(exchange) else { return };
        let current = ex.current.take();
        if let Some(att) = current {
            let callee = self.attempts[att].callee;
            self.metrics.deadline_timeouts[callee as usize] += 1;
            self.record_timeout(att, "deadline", s.now());
            self.trace_attempt(s.now(), TraceKind::DeadlinePassed, att, "");
            self.abandon_attempt(att, s);
        }
        self.complete_exchange(exchange, Response::status(Status::TimedOut), s);
    }

    /// The caller stops waiting for an attempt; the callee is told the connection went away.
    pub(crate) fn abandon_attempt(&mut self, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get_mut(attempt) else { return };
        if a.state == AttemptState::Abandoned {
            return;
        }
        a.state = AttemptState::Abandoned;
        self.caller_stops_waiting(attempt);
        let a = &self.attempts[attempt];
        if a.lost {
            // Dropped by a partition: no reply will ever come. (A request dropped on the way
            // never reached the callee, so no work goes on either.)
            self.release_attempt(attempt);
            return;
        }
        if a.answered {
            return; // the reply is already on the wire; it will arrive as an orphan
        }
        let (callee, work) = (a.callee, a.work);
        if self.callee_disconnected(callee, attempt, work, s) {
            // The callee dropped the work: no reply will come.
            self.trace_attempt(s.now(), TraceKind::WorkCancelled, attempt, "");
            self.release_attempt(attempt);
        }
    }

    /// The owner no longer wants the result of an exchange (its own caller went away).
    pub(crate) fn abandon_exchange(&mut self, exchange: ExchangeKey, s: &mut Scheduler<Ev>) {
        if let Some(ex) = self.exchanges.remove(exchange) {
            if let Owner::Hop { node, conn, .. } = ex.owner {
                // The connection is closed under the request rather than reused.
                if conn != super::connection_pool::NO_CONN {
                    if let super::world::NodeKind::Proxy(p) = &mut self.nodes[node as usize].kind {
                        if let Some(pool) = p.pool.as_mut() {
                            pool.conns[conn as usize].open = false;
                            pool.open_count -= 1;
                        }
                    }
                    self.pool_conn_closed(node, s);
                }
            }
            if let Some(att) = ex.current {
                self.abandon_attempt(att, s);
            }
        }
    }

    /// The caller no longer waits for this attempt (reply received, or gave up on it).
    fn caller_stops_waiting(&mut self, attempt: AttemptKey) {
        let a = &self.attempts[attempt];
        let spec = &mut self.specs[a.spec as usize];
        spec.active_requests -= 1;
        if a.number > 1 {
            spec.active_retries -= 1;
        }
    }

    /// A circuit breaker refused the attempt before it was sent.
    pub(crate) fn local_reject(&mut self, exchange: ExchangeKey, s: &mut Scheduler<Ev>) {
        let Some(ex) = self.exchanges.get(exchange) else { return };
        let r = ex.last.unwrap_or(Response::http(503));
        self.after_try(exchange, r, s);
    }

    /// Decides, after a try ended, whether to retry or to finish.
    fn after_try(&mut self, exchange: ExchangeKey, response: Response, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let ex = &self.exchanges[exchange];
        let attempts_made = ex.attempts_made;
        let spec = &mut self.specs[ex.spec as usize];
        let failed = match response.status {
            Status::Http(c) => c >= 500 || c == 429,
            _ => true,
        };
        if let Some(cb) = spec.breaker.as_mut() {
            cb.record(now, !failed);
        }
        if response.status.is_success() {
            if let Some(b) = spec.budget.as_mut() {
                b.on_success();
            }
        }
        let policy = &spec.retry;
        let retryable = !response.status.is_success() && policy.retry_on.matches(response.status) && attempts_made < policy.max_attempts;
        if !retryable {
            self.complete_exchange(exchange, response, s);
            return;
        }
        let (active, retries) = (spec.active_requests, spec.active_retries);
        if let Some(b) = spec.budget.as_mut() {
            if !b.try_spend(response.status == Status::TimedOut, active, retries) {
                let target = spec.target;
                self.metrics.budget_refusals[target as usize] += 1;
                self.complete_exchange(exchange, response, s);
                return;
            }
        }
        let ex = &self.exchanges[exchange];
        let spec = &self.specs[ex.spec as usize];
        let policy = &spec.retry;
        let retry_index = ex.attempts_made - 1;
        let mut sleep = policy.backoff.sleep(retry_index, ex.previous_sleep, &mut self.rngs[spec.rng]);
        if policy.honour_retry_after {
            if let Some(ra) = response.retry_after {
                sleep = sleep.max(ra);
            }
        }
        if let Some(d) = spec.deadline {
            if now + sleep >= ex.started + d {
                // No time left for another try before the deadline; the deadline event finishes it.
                self.complete_exchange(exchange, response, s);
                return;
            }
        }
        let target = spec.target;
        let caller_spec = ex.spec;
        self.exchanges[exchange].previous_sleep = sleep;
        self.metrics.retries_scheduled[target as usize] += 1;
        let ex = &self.exchanges[exchange];
        let (parent, org, session, n) = (ex.failure_cause, ex.org, ex.session, ex.attempts_made + 1);
        let inv_id = ex.invocation.and_then(|i| self.invocations.get(i)).map(|i| i.id);
        let rc = if self.causes.is_full() {
            super::causes::NONE
        } else {
            self.cause_with(
                super::causes::CauseKind::Retry,
                now,
                Some(target),
                Some(org),
                Some(session),
                inv_id,
                super::causes::Detail::Retry { caller_spec, status: response.status, try_n: n },
                &[parent],
            )
        };
        let ex = &mut self.exchanges[exchange];
        ex.retry_cause = rc;
        ex.failure_cause = super::causes::NONE;
        s.after(sleep, Ev::Retry { exchange });
    }

    /// Finishes an exchange and hands its result to the owner.
    fn complete_exchange(&mut self, exchange: ExchangeKey, response: Response, s: &mut Scheduler<Ev>) {
        let Some(ex) = self.exchanges.remove(exchange) else { return };
        match ex.owner {
            Owner::Invocation(inv) => self.invocation_finished(inv, response, s),
            Owner::Hop { node, incoming, conn } => self.hop_upstream_done(node, incoming, conn, response, s),
            Owner::Job(job) => self.job_outbound_done(job, response, s),
            Owner::Cache(cache) => self.cache_refresh_done(cache, response, s),
        }
    }

    /// Routes a disconnect to the callee. Returns true when the callee dropped the work.
    fn callee_disconnected(&mut self, callee: NodeId, attempt: AttemptKey, work: Work, s: &mut Scheduler<Ev>) -> bool {
        use super::world::NodeKind;
        let cancel = match &self.nodes[callee as usize].kind {
            NodeKind::Edge(e) => e.config.cancel_on_disconnect,
            NodeKind::Proxy(p) => p.config.cancel_on_disconnect,
            NodeKind::Service(sv) => sv.config.cancel_on_disconnect,
            // A token endpoint or platform API that has received a request finishes it.
            NodeKind::TokenEndpoint(_) | NodeKind::PlatformApi(_) => false,
        };
        if !cancel {
            return false;
        }
        match work {
            Work::None => {
                // Not yet delivered (still on the wire) or nothing to stop: the callee will drop
                // it when it arrives.
                self.attempts[attempt].work = Work::None;
                false
            }
            Work::Exchange(x) => {
                self.abandon_exchange(x, s);
                true
            }
            Work::Job(job) => self.service_cancel_job(job, s),
        }
    }
}
