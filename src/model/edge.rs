//! The edge: the platform's Data Action executor. One deadline covers the whole execution,
//! retries included, and every failure becomes a status the caller sees.
//!
//! Genesys Cloud validates a Data Action's `timeoutSeconds` to 1-60 s, enforced on the whole
//! execution (Genesys platform SDK docs, ActionConfig); the `genesys-data-action` preset sets that
//! range.

use super::config::UpstreamConfig;
use super::world::{Ev, NodeKind, Sim};
use super::{AttemptKey, NodeId, Response, Status};
use crate::engine::{Scheduler, SimDuration};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeConfig {
    /// Deadline of one execution, retries included.
    pub deadline: SimDuration,
    /// Allowed range for `deadline`, [min, max] (set by presets, e.g. 1-60 s for Genesys).
    #[serde(default)]
    pub deadline_range: Option<[SimDuration; 2]>,
    /// Status returned when the deadline passes: 504, or 502 as the seed incident's edge reports.
    #[serde(default = "s504")]
    pub timeout_status: u16,
    /// Status returned when the connection to the next hop is reset.
    #[serde(default = "s502")]
    pub reset_status: u16,
    /// Status returned when the next hop's response cannot be parsed.
    #[serde(default = "s502")]
    pub malformed_status: u16,
    /// Stop forwarding when the caller disconnects (default: no, work goes on).
    #[serde(default)]
    pub cancel_on_disconnect: bool,
    /// Send an Idempotency-Key per invocation, the same on every retry.
    #[serde(default)]
    pub idempotency_keys: bool,
    pub upstream: UpstreamConfig,
}

pub(crate) fn s504() -> u16 {
    504
}
pub(crate) fn s502() -> u16 {
    502
}

impl EdgeConfig {
    pub fn map(&self, status: Status) -> Status {
        match status {
            Status::TimedOut => Status::Http(self.timeout_status),
            Status::Reset => Status::Http(self.reset_status),
            Status::Malformed => Status::Http(self.malformed_status),
            s => s,
        }
    }
}

pub struct Edge {
    pub config: EdgeConfig,
    pub spec: u32,
}

impl Sim {
    /// An edge or proxy receives a request: forward it upstream under its own policy.
    pub(crate) fn hop_on_request(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let a = &self.attempts[attempt];
        let (inv, mut payload) = (a.invocation, a.payload);
        if let (NodeKind::Edge(e), super::Payload::Webhook { key: None, fingerprint }) = (&self.nodes[node as usize].kind, payload) {
            if e.config.idempotency_keys {
                // One key per invocation, stable across the edge's retries.
                let id = inv.and_then(|i| self.invocations.get(i)).map(|i| i.id);
                payload = super::Payload::Webhook { key: id, fingerprint };
            }
        }
        if let Some(reject) = self.proxy_rejects(node, payload) {
            self.respond(attempt, reject, s);
            return;
        }
        if let Some(a) = self.attempts.get_mut(attempt) {
            a.payload = payload;
        }
        if let Some(conn) = self.pool_acquire(node, attempt, s) {
            self.hop_forward(node, attempt, conn, s);
        }
    }

    /// Forwards an attempt upstream (on `conn` when the hop has a connection pool).
    pub(crate) fn hop_forward(&mut self, node: NodeId, attempt: AttemptKey, conn: u32, s: &mut Scheduler<Ev>) {
        let spec = match &self.nodes[node as usize].kind {
            NodeKind::Edge(e) => e.spec,
            NodeKind::Proxy(p) => p.spec,
            _ => unreachable!("hop_forward on a non-hop"),
        };
        let Some(a) = self.attempts.get(attempt) else {
            self.pool_release(node, conn, s);
            return;
        };
        let (inv, org, session, payload) = (a.invocation, a.org, a.session, a.payload);
        let template = super::call::PayloadTemplate::Fixed(payload);
        let key = self.start_exchange(spec, super::call::Owner::Hop { node, incoming: attempt, conn }, inv, org, session, template, s);
        if let Some(a) = self.attempts.get_mut(attempt) {
            if !a.answered && self.exchanges.contains_key(key) {
                a.work = super::call::Work::Exchange(key);
            }
        }
    }

    /// An edge's or proxy's upstream call finished: map the outcome and answer the caller.
    pub(crate) fn hop_upstream_done(&mut self, node: NodeId, incoming: AttemptKey, conn: u32, response: Response, s: &mut Scheduler<Ev>) {
        self.pool_release(node, conn, s);
        let status = match &self.nodes[node as usize].kind {
            NodeKind::Edge(e) => e.config.map(response.status),
            NodeKind::Proxy(p) => p.config.map(response.status),
            _ => unreachable!(),
        };
        self.respond(incoming, Response { status, ..response }, s);
    }
}
