//! The customer's webhook service: `workers` workers, a queue of `queue_capacity` waiting
//! requests (503 when full), a service-time distribution, and the integration's handler:
//! get a token for the invocation's org (refreshing when needed), call the platform API with it,
//! do the work (the side effect the webhook exists for), respond.
//!
//! A worker is held for the whole handler, token refresh and API call included, as a synchronous
//! webhook handler holds its thread: a slow refresh therefore also queues the requests behind it.

use super::call::{Owner, PayloadTemplate, Work};
use super::config::UpstreamConfig;
use super::idempotency::{IdempotencyConfig, IdempotencyStore, Verdict};
use super::retry::Backoff;
use super::token_cache::{Acquire, TokenCacheConfig};
use super::trace::TraceKind;
use super::world::{Ev, NodeKind, Sim};
use super::{AccessToken, AttemptKey, Body, ExchangeKey, InvocationKey, JobKey, NodeId, Payload, Response};
use crate::engine::{Dist, Scheduler, SimTime};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Concurrent workers (c).
    #[serde(default = "one")]
    pub workers: u32,
    /// Requests that may wait for a worker (K - c); one more is rejected with `queue_full_status`.
    #[serde(default = "default_queue")]
    pub queue_capacity: u32,
    /// Time the handler's own work takes (after token and API call).
    pub service_time: Dist,
    /// Where the handler refreshes tokens. None: the handler needs no token.
    #[serde(default)]
    pub token_endpoint: Option<UpstreamConfig>,
    /// The platform API the handler calls with the access token. None: no API call.
    #[serde(default)]
    pub platform_api: Option<UpstreamConfig>,
    #[serde(default)]
    pub token_cache: TokenCacheConfig,
    /// Status returned when the token endpoint or platform API fails (timeout, 5xx, 429).
    #[serde(default = "s502")]
    pub upstream_failure_status: u16,
    /// Status returned when the authorization is gone (invalid_grant, or 401 from the API).
    #[serde(default = "s401")]
    pub unauthorized_status: u16,
    /// Status returned when the queue is full.
    #[serde(default = "s503")]
    pub queue_full_status: u16,
    /// Idempotency-Key handling (off by default).
    #[serde(default)]
    pub idempotency: IdempotencyConfig,
    /// `sync`: answer when the work is done. `async`: answer 200 at once and do the work from
    /// a background job queue (the seed thread's "return 200 immediately" advice).
    #[serde(default = "sync_mode")]
    pub acknowledge: AckMode,
    #[serde(default)]
    pub background: BackgroundConfig,
    /// Fraction of requests the service fails at once with `failure_status` (independently, from
    /// the service's own random stream): a base error rate for retry-amplification studies.
    #[serde(default)]
    pub failure_rate: f64,
    #[serde(default = "s500")]
    pub failure_status: u16,
    /// Abandon a request's work when its caller disconnects (as a handler watching its request
    /// context does). Default: no, the handler runs to the end.
    #[serde(default)]
    pub cancel_on_disconnect: bool,
}

fn one() -> u32 {
    1
}
fn sync_mode() -> AckMode {
    AckMode::Sync
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AckMode {
    Sync,
    Async,
}

/// The background job queue of an async service.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackgroundConfig {
    pub workers: u32,
    pub queue_capacity: u32,
    /// Tries per job, the first included.
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// A durable queue keeps pending jobs across a restart; an in-memory one loses them.
    pub durable: bool,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            workers: 4,
            queue_capacity: 100_000,
            max_attempts: 3,
            backoff: Backoff {
                strategy: super::retry::BackoffStrategy::Exponential,
                base: crate::engine::SimDuration::from_secs(1),
                cap: crate::engine::SimDuration::from_secs(60),
            },
            durable: false,
        }
    }
}
fn default_queue() -> u32 {
    1000
}
fn s502() -> u16 {
    502
}
fn s401() -> u16 {
    401
}
fn s500() -> u16 {
    500
}
fn s503() -> u16 {
    503
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    Queued,
    /// Waiting for another request's refresh (single-flight).
    WaitingForRefresh,
    Refreshing,
    CallingApi,
    Working,
}

pub struct Job {
    pub node: NodeId,
    /// The request being answered; None for a background job.
    pub incoming: Option<AttemptKey>,
    /// Idempotency-Key and body fingerprint, once recorded in the store.
    pub key: Option<(u64, u32)>,
    /// The caller that retried to produce this copy (its call spec), if any, and that retry's
    /// cause node.
    pub retried_by: Option<u32>,
    pub retry_cause: u32,
    pub background: bool,
    /// Background jobs: tries so far.
    pub tries: u32,
    pub previous_sleep: crate::engine::SimDuration,
    pub invocation: Option<InvocationKey>,
    pub org: u16,
    pub session: u32,
    pub cache: Option<u32>,
    pub stage: Stage,
    pub outbound: Option<ExchangeKey>,
    pub arrived: SimTime,
}

impl Job {
    /// A job waiting for a worker (a background one when `incoming` is None and the caller sets
    /// `background`).
    #[allow(clippy::too_many_arguments)]
    fn new(
        node: NodeId,
        incoming: Option<AttemptKey>,
        invocation: Option<InvocationKey>,
        org: u16,
        session: u32,
        cache: Option<u32>,
        retry: (Option<u32>, u32),
        now: SimTime,
    ) -> Job {
        Job {
            node,
            incoming,
            key: None,
            retried_by: retry.0,
            retry_cause: retry.1,
            background: false,
            tries: 0,
            previous_sleep: crate::engine::SimDuration::ZERO,
            invocation,
            org,
            session,
            cache,
            stage: Stage::Queued,
            outbound: None,
            arrived: now,
        }
    }
}

pub struct Service {
    pub config: ServiceConfig,
    pub rng: usize,
    pub busy: u32,
    pub queue: VecDeque<JobKey>,
    pub store: Option<IdempotencyStore>,
    pub bg_busy: u32,
    pub bg_queue: VecDeque<JobKey>,
    /// Restarting: requests are refused until then.
    pub down_until: Option<SimTime>,
    pub token_spec: Option<u32>,
    pub api_spec: Option<u32>,
    /// First cache index of this service, and how caches are laid out (per org or per session).
    pub cache_base: u32,
    pub per_session: bool,
    /// Sessions per org, to index per-session caches.
    pub org_cache_offset: Vec<u32>,
}

impl Service {
    fn cache_for(&self, org: u16, session: u32) -> Option<u32> {
        self.token_spec?;
        let off = self.org_cache_offset[org as usize];
        Some(self.cache_base + off + if self.per_session { session } else { 0 })
    }
}

impl Sim {
    fn service(&mut self, node: NodeId) -> &mut Service {
        match &mut self.nodes[node as usize].kind {
            NodeKind::Service(s) => s,
            _ => unreachable!("not a service"),
        }
    }

    pub(crate) fn service_on_request(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let a = &self.attempts[attempt];
        let (inv, org, session) = (a.invocation, a.org, a.session);
        let now = s.now();
        if self.service(node).down_until.is_some_and(|t| now < t) {
            // Restarting: nothing listens, the connection is refused.
            self.respond(attempt, Response::status(super::Status::Reset), s);
            return;
        }
        let (retried_by, retry_cause) = self.retrying_caller(attempt).unzip();
        let retry_cause = retry_cause.unwrap_or(super::causes::NONE);
        let svc = self.service(node);
        let cache = svc.cache_for(org, session);
        let (busy, configured, queued, cap, code) =
            (svc.busy, svc.config.workers, svc.queue.len() as u32, svc.config.queue_capacity, svc.config.queue_full_status);
        let workers = self.fault_workers(node, configured, now);
        if busy >= workers && queued >= cap {
            self.metrics.queue_full_rejections += 1;
            self.trace_attempt(now, TraceKind::QueueFull, attempt, "");
            self.respond(attempt, Response::http(code), s);
            return;
        }
        let job = self.jobs.insert(Job::new(node, Some(attempt), inv, org, session, cache, (retried_by, retry_cause), now));
        self.attempts[attempt].work = Work::Job(job);
        if busy < workers {
            self.start_job(job, s);
        } else {
            let svc = self.service(node);
            svc.queue.push_back(job);
            let q = svc.queue.len() as u64;
            self.metrics.max_queue_len = self.metrics.max_queue_len.max(q);
        }
    }

    fn start_job(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let j = &self.jobs[job];
        let (node, arrived) = (j.node, j.arrived);
        self.service(node).busy += 1;
        let _ = self.metrics.queue_wait.record(s.now().since(arrived).micros());
        if !self.jobs[job].background && !self.job_admitted(job, s) {
            return;
        }
        let rate = self.service(node).config.failure_rate + self.fault_error_rate(node, s.now());
        if rate > 0.0 {
            let NodeKind::Service(svc) = &self.nodes[node as usize].kind else { unreachable!() };
            let (rng, status) = (svc.rng, svc.config.failure_status);
            if rand::Rng::gen::<f64>(&mut self.rngs[rng]) < rate {
                self.finish_job(job, status, s);
                return;
            }
        }
        let garbled = self.fault_malformed_rate(node, s.now());
        if garbled > 0.0 && !self.jobs[job].background {
            let rng = self.service(node).rng;
            if rand::Rng::gen::<f64>(&mut self.rngs[rng]) < garbled {
                let j = self.jobs.remove(job).expect("present");
                if let Some(incoming) = j.incoming {
                    self.respond(incoming, Response::status(super::Status::Malformed), s);
                }
                self.release_worker(node, s);
                return;
            }
        }
        if self.service(node).config.acknowledge == AckMode::Async && !self.jobs[job].background {
            self.enqueue_background(job, s);
            self.finish_job(job, 200, s);
            return;
        }
        self.job_get_token(job, s);
    }

    /// Idempotency check when execution begins. Returns false when the job was answered from
    /// the store (409, 422, a replay, or 503 when the store is full).
    fn job_admitted(&mut self, job: JobKey, s: &mut Scheduler<Ev>) -> bool {
        let j = &self.jobs[job];
        let node = j.node;
        let Some(incoming) = j.incoming else { return true };
        let Some(Payload::Webhook { key: Some(key), fingerprint }) = self.attempts.get(incoming).map(|a| a.payload) else { return true };
        let now = s.now();
        let Some(store) = self.service(node).store.as_mut() else { return true };
        let verdict = store.begin(key, fingerprint, now);
        let status = match verdict {
            Verdict::Execute => {
                self.jobs[job].key = Some((key, fingerprint));
                return true;
            }
            Verdict::Conflict => {
                self.metrics.idempotency_conflicts += 1;
                409
            }
            Verdict::Mismatch => {
                self.metrics.idempotency_mismatches += 1;
                422
            }
            Verdict::Replay(st) => {
                self.metrics.idempotent_replays += 1;
                self.trace_attempt(now, TraceKind::IdempotentReplay, incoming, &format!("replayed stored response {st}"));
                st
            }
            Verdict::Full => {
                self.metrics.idempotency_store_full += 1;
                503
            }
        };
        self.finish_job(job, status, s);
        false
    }

    /// Async acknowledgement: the work moves to a background job; the request is answered now.
    fn enqueue_background(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let j = &self.jobs[job];
        let (node, inv, org, session, cache, retried_by, retry_cause) = (j.node, j.invocation, j.org, j.session, j.cache, j.retried_by, j.retry_cause);
        let now = s.now();
        let cap = self.service(node).config.background.queue_capacity;
        if self.service(node).bg_queue.len() as u32 >= cap {
            self.metrics.background_rejected += 1;
            return;
        }
        if let Some(i) = inv.and_then(|i| self.invocations.get_mut(i)) {
            i.refs += 1; // the background job keeps the invocation's record alive
        }
        let bg = self.jobs.insert(Job { background: true, ..Job::new(node, None, inv, org, session, cache, (retried_by, retry_cause), now) });
        self.metrics.async_acks += 1;
        self.metrics.background_enqueued += 1;
        self.service(node).bg_queue.push_back(bg);
        self.pump_background(node, s);
    }

    /// Starts background jobs while background workers are free.
    pub(crate) fn pump_background(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        loop {
            let svc = self.service(node);
            if svc.down_until.is_some_and(|t| s.now() < t) || svc.bg_busy >= svc.config.background.workers {
                return;
            }
            let Some(job) = svc.bg_queue.pop_front() else { return };
            svc.bg_busy += 1;
            if let Some(j) = self.jobs.get_mut(job) {
                j.tries += 1;
                self.job_get_token(job, s);
            } else {
                self.service(node).bg_busy -= 1;
            }
        }
    }

    /// Which caller retried to send this copy of the request: the nearest attempt up the chain
    /// that is not a first try.
    fn retrying_caller(&self, attempt: AttemptKey) -> Option<(u32, u32)> {
        let mut a = self.attempts.get(attempt)?;
        for _ in 0..64 {
            if a.number > 1 {
                return Some((a.spec, a.cause));
            }
            let ex = self.exchanges.get(a.exchange)?;
            match ex.owner {
                super::call::Owner::Hop { incoming, .. } => a = self.attempts.get(incoming)?,
                _ => return None,
            }
        }
        None
    }

    fn job_get_token(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let Some(cache) = self.jobs[job].cache else {
            self.job_call_api(job, None, s);
            return;
        };
        match self.cache_acquire(cache, job, s) {
            Acquire::Ready(token) => self.job_call_api(job, Some(token), s),
            Acquire::Pending => {}
            Acquire::Unauthorized => {
                let code = self.service(self.jobs[job].node).config.unauthorized_status;
                self.finish_job(job, code, s);
            }
        }
    }

    /// Starts the job's own refresh (concurrent mode).
    pub(crate) fn job_start_refresh(&mut self, job: JobKey, cache: u32, s: &mut Scheduler<Ev>) {
        let j = &self.jobs[job];
        let (node, inv, org, session) = (j.node, j.invocation, j.org, j.session);
        let spec = self.service(node).token_spec.expect("cache implies token endpoint");
        self.jobs[job].stage = Stage::Refreshing;
        let key = self.start_exchange(spec, Owner::Job(job), inv, org, session, PayloadTemplate::Refresh { cache }, s);
        if let Some(j) = self.jobs.get_mut(job) {
            j.outbound = Some(key);
        }
    }

    fn job_call_api(&mut self, job: JobKey, token: Option<AccessToken>, s: &mut Scheduler<Ev>) {
        let j = &self.jobs[job];
        let (node, inv, org, session) = (j.node, j.invocation, j.org, j.session);
        let (Some(spec), Some(token)) = (self.service(node).api_spec, token) else {
            self.job_work(job, s);
            return;
        };
        self.jobs[job].stage = Stage::CallingApi;
        let key = self.start_exchange(spec, Owner::Job(job), inv, org, session, PayloadTemplate::Fixed(Payload::Api { token }), s);
        if let Some(j) = self.jobs.get_mut(job) {
            j.outbound = Some(key);
        }
    }

    fn job_work(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let node = self.jobs[job].node;
        self.jobs[job].stage = Stage::Working;
        let NodeKind::Service(svc) = &self.nodes[node as usize].kind else { unreachable!() };
        let d = svc.config.service_time.sample(&mut self.rngs[svc.rng]);
        s.after(d, Ev::JobWorkDone { job });
    }

    /// The handler's work is done: the side effect happens now, and the service answers 200.
    pub(crate) fn job_work_done(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let Some(j) = self.jobs.get(job) else { return };
        let (inv, retried_by, background, retry_cause) = (j.invocation, j.retried_by, j.background, j.retry_cause);
        if let Some(inv) = inv {
            let hop = retried_by.map(|sp| self.specs[sp as usize].caller_name.clone());
            self.record_side_effect(inv, hop, retry_cause, background, s.now());
        }
        self.finish_job(job, 200, s);
    }

    /// An outbound call of a job finished (its own refresh, or the platform API call).
    pub(crate) fn job_outbound_done(&mut self, job: JobKey, response: Response, s: &mut Scheduler<Ev>) {
        let Some(j) = self.jobs.get_mut(job) else { return };
        j.outbound = None;
        let (stage, cache, node) = (j.stage, j.cache, j.node);
        match stage {
            Stage::Refreshing => {
                let cache = cache.expect("refreshing implies a cache");
                self.cache_store(cache, response, s);
                self.job_after_refresh(job, response, s);
            }
            Stage::CallingApi => {
                let cfg = &self.service(node).config;
                let (unauth, fail) = (cfg.unauthorized_status, cfg.upstream_failure_status);
                if response.status.is_success() {
                    self.job_work(job, s);
                } else if response.status == super::Status::Http(401) {
                    if let Some(c) = cache {
                        self.cache_access_rejected(c, s);
                    }
                    self.finish_job(job, unauth, s);
                } else {
                    self.finish_job(job, fail, s);
                }
            }
            _ => {}
        }
    }

    /// A refresh this job was waiting for finished (its own, or the single-flight one).
    pub(crate) fn job_after_refresh(&mut self, job: JobKey, response: Response, s: &mut Scheduler<Ev>) {
        let Some(j) = self.jobs.get(job) else { return };
        let node = j.node;
        let cfg = &self.service(node).config;
        let (unauth, fail) = (cfg.unauthorized_status, cfg.upstream_failure_status);
        match response.body {
            Body::Tokens { access, .. } if response.status.is_success() => self.job_call_api(job, Some(access), s),
            Body::InvalidGrant { .. } => self.finish_job(job, unauth, s),
            _ => self.finish_job(job, fail, s),
        }
    }

    /// A single-flight waiter waited too long.
    pub(crate) fn job_refresh_wait_expired(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let Some(j) = self.jobs.get(job) else { return };
        if j.stage != Stage::WaitingForRefresh {
            return;
        }
        let (node, cache) = (j.node, j.cache);
        if let Some(c) = cache {
            self.caches[c as usize].waiters.retain(|w| *w != job);
        }
        self.metrics.refresh_wait_timeouts += 1;
        let fail = self.service(node).config.upstream_failure_status;
        self.finish_job(job, fail, s);
    }

    pub(crate) fn finish_job(&mut self, job: JobKey, status: u16, s: &mut Scheduler<Ev>) {
        let Some(j) = self.jobs.get(job) else { return };
        if j.background {
            self.background_done(job, status, s);
            return;
        }
        let j = self.jobs.remove(job).expect("present");
        if let Some((key, _)) = j.key {
            if let Some(store) = self.service(j.node).store.as_mut() {
                store.complete(key, status);
            }
        }
        if let Some(incoming) = j.incoming {
            self.respond(incoming, Response::http(status), s);
        }
        self.release_worker(j.node, s);
    }

    /// A background job's try ended: done, retried after its backoff, or given up.
    fn background_done(&mut self, job: JobKey, status: u16, s: &mut Scheduler<Ev>) {
        let j = &mut self.jobs[job];
        let (node, tries, prev, inv) = (j.node, j.tries, j.previous_sleep, j.invocation);
        j.stage = Stage::Queued;
        j.outbound = None;
        let cfg = self.service(node).config.background.clone();
        let svc = self.service(node);
        svc.bg_busy = svc.bg_busy.saturating_sub(1);
        if (200..300).contains(&status) {
            self.metrics.background_completed += 1;
            self.jobs.remove(job);
            if let Some(i) = inv {
                self.unref_invocation(i);
            }
        } else if tries < cfg.max_attempts {
            let rng = self.service(node).rng;
            let sleep = cfg.backoff.sleep(tries - 1, prev, &mut self.rngs[rng]);
            self.jobs[job].previous_sleep = sleep;
            self.metrics.background_retries += 1;
            s.after(sleep, Ev::BackgroundRetry { job });
        } else {
            self.metrics.background_failed += 1;
            self.jobs.remove(job);
            if let Some(i) = inv {
                self.unref_invocation(i);
            }
        }
        self.pump_background(node, s);
    }

    /// A background job's backoff is over: back in the queue.
    pub(crate) fn background_retry(&mut self, job: JobKey, s: &mut Scheduler<Ev>) {
        let Some(j) = self.jobs.get(job) else { return };
        let node = j.node;
        self.service(node).bg_queue.push_back(job);
        self.pump_background(node, s);
    }

    /// The service process restarts: every request in it is lost (callers see a reset);
    /// background jobs survive only with a durable queue. Down for `down_for`.
    pub(crate) fn service_restart(&mut self, node: NodeId, down_for: crate::engine::SimDuration, s: &mut Scheduler<Ev>) {
        let now = s.now();
        self.metrics.restarts += 1;
        let durable = self.service(node).config.background.durable;
        let jobs: Vec<JobKey> = self.jobs.iter().filter(|(_, j)| j.node == node).map(|(k, _)| k).collect();
        for job in jobs {
            let j = self.jobs.get(job).expect("listed");
            if j.background && durable {
                continue;
            }
            let j = self.jobs.remove(job).expect("listed");
            if let Some(x) = j.outbound {
                self.abandon_exchange(x, s);
            }
            if let Some(c) = j.cache {
                self.caches[c as usize].waiters.retain(|w| *w != job);
            }
            if let Some((key, _)) = j.key {
                if let Some(store) = self.service(node).store.as_mut() {
                    store.abandon(key);
                }
            }
            if let Some(incoming) = j.incoming {
                self.respond(incoming, Response::status(super::Status::Reset), s);
            }
            if j.background {
                self.metrics.background_lost += 1;
                if let Some(i) = j.invocation {
                    self.unref_invocation(i);
                }
            }
        }
        let svc = self.service(node);
        svc.busy = 0;
        svc.queue.clear();
        svc.bg_busy = 0;
        if durable {
            // Jobs that were running start over from the queue after the restart.
            let mut running: Vec<JobKey> = self
                .jobs
                .iter()
                .filter(|(k, j)| j.node == node && j.background && j.stage != Stage::Queued && !self.service_ref(node).bg_queue.contains(k))
                .map(|(k, _)| k)
                .collect();
            running.sort();
            for job in running {
                // A fresh record (new key), so events still pending for the old run of the job
                // (its work timer, its outbound call) find nothing.
                let old = self.jobs.remove(job).expect("listed");
                if let Some(x) = old.outbound {
                    self.abandon_exchange(x, s);
                }
                if let Some(c) = old.cache {
                    self.caches[c as usize].waiters.retain(|w| *w != job);
                }
                let fresh = self.jobs.insert(Job { stage: Stage::Queued, outbound: None, ..old });
                self.service(node).bg_queue.push_front(fresh);
            }
        } else {
            let lost = self.service(node).bg_queue.len() as u64;
            let queued: Vec<JobKey> = self.service(node).bg_queue.drain(..).collect();
            debug_assert_eq!(lost, 0, "queued background jobs were removed above");
            for job in queued {
                self.jobs.remove(job);
            }
        }
        self.service(node).down_until = Some(now + down_for);
        self.trace_raw(
            now,
            TraceKind::ServiceRestarted,
            node,
            0,
            0,
            None,
            if durable { "restart: durable queue kept" } else { "restart: in-memory queue lost" },
        );
        s.after(down_for, Ev::ServiceUp { node });
    }

    pub(crate) fn service_up(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        self.service(node).down_until = None;
        self.pump_background(node, s);
    }

    fn service_ref(&self, node: NodeId) -> &Service {
        match &self.nodes[node as usize].kind {
            NodeKind::Service(s) => s,
            _ => unreachable!(),
        }
    }

    fn release_worker(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        let svc = self.service(node);
        svc.busy = svc.busy.saturating_sub(1);
        self.start_queued(node, s);
    }

    /// Starts queued jobs while workers are free (fewer inside a capacity fault).
    fn start_queued(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        loop {
            let configured = self.service(node).config.workers;
            let workers = self.fault_workers(node, configured, s.now());
            let svc = self.service(node);
            if svc.busy >= workers {
                return;
            }
            let Some(next) = svc.queue.pop_front() else { return };
            self.start_job(next, s);
        }
    }

    /// A fault window on this component ended: if it is a service, workers may be back.
    pub(crate) fn service_capacity_restored(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        if matches!(self.nodes[node as usize].kind, NodeKind::Service(_)) {
            self.start_queued(node, s);
        }
    }

    /// The caller of a job disconnected and this service abandons work on disconnect.
    /// Returns true: the job is gone and no reply will be sent.
    pub(crate) fn service_cancel_job(&mut self, job: JobKey, s: &mut Scheduler<Ev>) -> bool {
        if self.jobs.get(job).is_some_and(|j| j.background) {
            return false;
        }
        let Some(j) = self.jobs.remove(job) else { return false };
        self.metrics.cancelled_jobs += 1;
        if let Some((key, _)) = j.key {
            if let Some(store) = self.service(j.node).store.as_mut() {
                store.abandon(key);
            }
        }
        match j.stage {
            Stage::Queued => {
                self.service(j.node).queue.retain(|q| *q != job);
                return true;
            }
            Stage::WaitingForRefresh => {
                if let Some(c) = j.cache {
                    self.caches[c as usize].waiters.retain(|w| *w != job);
                }
            }
            Stage::Refreshing | Stage::CallingApi => {
                if let Some(x) = j.outbound {
                    self.abandon_exchange(x, s);
                }
            }
            Stage::Working => {}
        }
        self.release_worker(j.node, s);
        true
    }
}
