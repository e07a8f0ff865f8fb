//! What a server-side component (token endpoint, platform API) does with an incoming request
//! before its own logic: rate limiting (429 with Retry-After), then a pool of `concurrency`
//! workers with a FIFO queue (503 when the queue is full). Without `concurrency` the component
//! has unlimited parallelism and only its latency delays a request.

use super::rate_limit::{RateLimitConfig, RateLimitKey, RateLimiter};
use super::trace::TraceKind;
use super::world::{Ev, NodeKind, Sim};
use super::{AttemptKey, NodeId, Payload, Response, Status};
use crate::engine::{Scheduler, SimDuration};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Capacity and protection settings shared by server components.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Requests processed at once (None: unlimited).
    pub concurrency: Option<u32>,
    /// Requests that may wait for a worker (default 10 000).
    pub queue_capacity: Option<u32>,
    /// Status when the queue is full (default 503).
    pub overload_status: Option<u16>,
    pub rate_limit: Option<RateLimitConfig>,
}

pub struct ServerState {
    pub workers: Option<u32>,
    pub busy: u32,
    pub queue: VecDeque<AttemptKey>,
    pub capacity: u32,
    pub overload_status: u16,
    pub limiter: Option<RateLimiter>,
}

impl ServerState {
    pub fn new(c: &ServerConfig) -> Self {
        ServerState {
            workers: c.concurrency,
            busy: 0,
            queue: VecDeque::new(),
            capacity: c.queue_capacity.unwrap_or(10_000),
            overload_status: c.overload_status.unwrap_or(503),
            limiter: c.rate_limit.clone().map(RateLimiter::new),
        }
    }
}

impl Sim {
    fn server_state(&mut self, node: NodeId) -> &mut ServerState {
        match &mut self.nodes[node as usize].kind {
            NodeKind::TokenEndpoint(t) => &mut t.server,
            NodeKind::PlatformApi(a) => &mut a.server,
            _ => unreachable!("not a server component"),
        }
    }

    /// A request reaches a server component.
    pub(crate) fn server_on_request(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let a = &self.attempts[attempt];
        let key = match a.payload {
            Payload::Api { token } => Some(token.family as usize),
            Payload::Refresh { token, .. } => Some(token.family as usize),
            Payload::Webhook { .. } => None,
        };
        let org = a.org as usize;
        let st = self.server_state(node);
        if let Some(l) = st.limiter.as_mut() {
            let k = match l.config.per {
                RateLimitKey::Global => 0,
                RateLimitKey::Org => org,
                RateLimitKey::Token => key.unwrap_or(0),
            };
            if let Err(wait) = l.admit(k, now) {
                let status = l.config.status;
                self.metrics.rate_limited[node as usize] += 1;
                self.trace_attempt(now, TraceKind::RateLimited, attempt, &format!("Retry-After {}", wait));
                self.respond(attempt, Response { status: Status::Http(status), body: super::Body::Empty, retry_after: Some(wait) }, s);
                return;
            }
        }
        let st = self.server_state(node);
        match st.workers {
            None => {}
            Some(w) if st.busy < w => st.busy += 1,
            Some(_) if (st.queue.len() as u32) < st.capacity => {
                st.queue.push_back(attempt);
                let q = st.queue.len() as u64;
                self.metrics.max_server_queue[node as usize] = self.metrics.max_server_queue[node as usize].max(q);
                return;
            }
            Some(_) => {
                let status = st.overload_status;
                self.metrics.overload_rejections[node as usize] += 1;
                self.respond(attempt, Response::http(status), s);
                return;
            }
        }
        self.server_start(node, attempt, s);
    }

    fn server_start(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let d = match &self.nodes[node as usize].kind {
            NodeKind::TokenEndpoint(_) => self.token_endpoint_latency(node, attempt, s.now()),
            NodeKind::PlatformApi(_) => self.platform_api_latency(node, s.now()),
            _ => SimDuration::ZERO,
        };
        s.after(d, Ev::ServerDone { attempt });
    }

    /// A server component finished a request: free its worker for the next one.
    pub(crate) fn server_release(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        let st = self.server_state(node);
        if st.workers.is_none() {
            return;
        }
        match st.queue.pop_front() {
            // The worker goes straight to the next request.
            Some(next) => self.server_start(node, next, s),
            None => st.busy -= 1,
        }
    }
}
