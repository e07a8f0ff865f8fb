//! The customer's webhook service: `workers` workers, a queue of `queue_capacity` waiting
//! requests (503 when full), a service-time distribution, and the integration's handler:
//! get a token for the invocation's org (refreshing when needed), call the platform API with it,
//! do the work (the side effect the webhook exists for), respond.
//!
//! A worker is held for the whole handler, token refresh and API call included, as a synchronous
//! webhook handler holds its thread: a slow refresh therefore also queues the requests behind it.

use super::call::{Owner, PayloadTemplate, Work};
use super::config::UpstreamConfig;
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
    pub incoming: AttemptKey,
    pub invocation: Option<InvocationKey>,
    pub org: u16,
    pub session: u32,
    pub cache: Option<u32>,
    pub stage: Stage,
    pub outbound: Option<ExchangeKey>,
    pub arrived: SimTime,
}

pub struct Service {
    pub config: ServiceConfig,
    pub rng: usize,
    pub busy: u32,
    pub queue: VecDeque<JobKey>,
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
        let svc = self.service(node);
        let cache = svc.cache_for(org, session);
        let (busy, workers, queued, cap) = (svc.busy, svc.config.workers, svc.queue.len() as u32, svc.config.queue_capacity);
        if busy >= workers && queued >= cap {
            let code = svc.config.queue_full_status;
            self.metrics.queue_full_rejections += 1;
            self.trace_attempt(now, TraceKind::QueueFull, attempt, "");
            self.respond(attempt, Response::http(code), s);
            return;
        }
        let job = self.jobs.insert(Job {
            node,
            incoming: attempt,
            invocation: inv,
            org,
            session,
            cache,
            stage: Stage::Queued,
            outbound: None,
            arrived: now,
        });
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
        let rate = self.service(node).config.failure_rate + self.fault_error_rate(node, s.now());
        if rate > 0.0 {
            let NodeKind::Service(svc) = &self.nodes[node as usize].kind else { unreachable!() };
            let (rng, status) = (svc.rng, svc.config.failure_status);
            if rand::Rng::gen::<f64>(&mut self.rngs[rng]) < rate {
                self.finish_job(job, status, s);
                return;
            }
        }
        self.job_get_token(job, s);
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
        let (inv, incoming) = (j.invocation, j.incoming);
        if let Some(inv) = inv {
            self.record_side_effect(inv, incoming, s.now());
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
        let Some(j) = self.jobs.remove(job) else { return };
        self.respond(j.incoming, Response::http(status), s);
        self.release_worker(j.node, s);
    }

    fn release_worker(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        let svc = self.service(node);
        svc.busy -= 1;
        if let Some(next) = svc.queue.pop_front() {
            self.start_job(next, s);
        }
    }

    /// The caller of a job disconnected and this service abandons work on disconnect.
    /// Returns true: the job is gone and no reply will be sent.
    pub(crate) fn service_cancel_job(&mut self, job: JobKey, s: &mut Scheduler<Ev>) -> bool {
        let Some(j) = self.jobs.remove(job) else { return false };
        self.metrics.cancelled_jobs += 1;
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
