//! Keep-alive connections between a proxy and its upstream.
//!
//! The upstream server closes a connection that stayed idle for `upstream_keep_alive`; the proxy
//! learns of it only when the FIN reaches it, one network latency later. A request the proxy
//! writes on that connection in between meets a closed socket: the target reset the connection,
//! and the proxy answers 502 (AWS ALB docs: "the target closed the connection ... HTTP 502"; the
//! fix they give is a target keep-alive timeout longer than the ALB's idle timeout). If the
//! proxy's own `idle_timeout` is shorter, the proxy closes first and the race cannot happen. So
//! the rate of such 502s follows from the timing (pool size, idle gaps, both timeouts, latency),
//! never from a fixed probability.

use super::trace::TraceKind;
use super::world::{Ev, NodeKind, Sim};
use super::{AttemptKey, NodeId, Response};
use crate::engine::{Dist, Scheduler, SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeepAliveConfig {
    /// Connections to the upstream at most (a connection limit). Default 128.
    pub max_connections: u32,
    /// Requests that may wait for a connection; one more gets `pool_full_status`. Default 1024.
    pub max_pending: u32,
    pub pool_full_status: u16,
    /// The proxy closes connections idle this long (AWS ALB idle timeout default 60 s).
    pub idle_timeout: SimDuration,
    /// The upstream closes connections idle this long (Node.js http.Server keepAliveTimeout
    /// default 5 s, a common webhook stack; ALB docs advise more than the ALB idle timeout).
    pub upstream_keep_alive: SimDuration,
    /// Time to open a connection (TCP and TLS handshakes).
    pub connect_latency: Dist,
    /// Give up opening a connection after this long, answering `connect_timeout_status`.
    pub connect_timeout: SimDuration,
    pub connect_timeout_status: u16,
}

impl Default for KeepAliveConfig {
    fn default() -> Self {
        KeepAliveConfig {
            max_connections: 128,
            max_pending: 1024,
            pool_full_status: 503,
            idle_timeout: SimDuration::from_secs(60),
            upstream_keep_alive: SimDuration::from_secs(5),
            connect_latency: Dist::constant(SimDuration::from_millis(2)),
            connect_timeout: SimDuration::from_secs(10),
            connect_timeout_status: 504,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Connection {
    pub busy: bool,
    pub last_used: SimTime,
    pub open: bool,
}

#[derive(Default)]
pub struct ConnectionPool {
    pub conns: Vec<Connection>,
    /// Idle connections, most recently used last (reused first).
    pub idle: Vec<u32>,
    pub pending: VecDeque<AttemptKey>,
    pub opened: u64,
    pub resets: u64,
    pub connect_timeouts: u64,
    pub open_count: u32,
}

/// No connection (a hop without a pool).
pub const NO_CONN: u32 = u32::MAX;

impl Sim {
    fn pool_parts(&mut self, node: NodeId) -> Option<(&KeepAliveConfig, &mut ConnectionPool)> {
        match &mut self.nodes[node as usize].kind {
            NodeKind::Proxy(p) => match (&p.config.keep_alive, p.pool.as_mut()) {
                (Some(c), Some(pool)) => Some((c, pool)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Finds a connection for a request at a proxy with a pool. Returns the connection to use
    /// now, or None when the request was answered (reset, pool full) or is waiting (pending or
    /// connecting).
    pub(crate) fn pool_acquire(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) -> Option<u32> {
        let now = s.now();
        let NodeKind::Proxy(p) = &self.nodes[node as usize].kind else { return Some(NO_CONN) };
        if p.pool.is_none() {
            return Some(NO_CONN);
        }
        let spec = p.spec as usize;
        let fin_delay = {
            let sp = &self.specs[spec];
            sp.latency.sample(&mut self.rngs[sp.rng])
        };
        let reset_status = p.config.reset_status;
        let (cfg, pool) = self.pool_parts(node).expect("checked");
        while let Some(c) = pool.idle.pop() {
            let conn = pool.conns[c as usize];
            let idle_for = now.since(conn.last_used);
            if idle_for >= cfg.idle_timeout {
                // The proxy closed it itself: no race.
                pool.conns[c as usize].open = false;
                pool.open_count -= 1;
                continue;
            }
            if idle_for >= cfg.upstream_keep_alive + fin_delay {
                // The FIN arrived: the proxy knows it is closed.
                pool.conns[c as usize].open = false;
                pool.open_count -= 1;
                continue;
            }
            if idle_for + fin_delay >= cfg.upstream_keep_alive {
                // The upstream closes it before this request reaches it (the request is in
                // flight), or has closed it and the FIN is still on its way: either way the
                // request meets a closed socket. The window is one network latency each side
                // of the upstream's keep-alive timeout.
                pool.conns[c as usize].open = false;
                pool.open_count -= 1;
                pool.resets += 1;
                self.trace_attempt(now, TraceKind::KeepAliveReset, attempt, "request sent on a connection the upstream had just closed");
                let rtt = fin_delay + fin_delay;
                self.respond_after(attempt, Response::http(reset_status), rtt, s);
                return None;
            }
            pool.conns[c as usize].busy = true;
            return Some(c);
        }
        if pool.open_count < cfg.max_connections {
            let rng = match &self.nodes[node as usize].kind {
                NodeKind::Proxy(p) => self.specs[p.spec as usize].rng,
                _ => unreachable!(),
            };
            let (cfg, _) = self.pool_parts(node).expect("checked");
            let connect_timeout = cfg.connect_timeout;
            let timeout_status = cfg.connect_timeout_status;
            let d = cfg.connect_latency.clone().sample(&mut self.rngs[rng]);
            let (_, pool) = self.pool_parts(node).expect("checked");
            if d > connect_timeout {
                pool.connect_timeouts += 1;
                self.respond_after(attempt, Response::http(timeout_status), connect_timeout, s);
                return None;
            }
            let c = pool.conns.len() as u32;
            pool.conns.push(Connection { busy: true, last_used: now, open: true });
            pool.open_count += 1;
            pool.opened += 1;
            s.after(d, Ev::Connected { attempt, conn: c });
            return None;
        }
        if (pool.pending.len() as u32) < cfg.max_pending {
            pool.pending.push_back(attempt);
            return None;
        }
        let status = cfg.pool_full_status;
        self.respond(attempt, Response::http(status), s);
        None
    }

    /// A pooled connection was closed under a request (the caller gave up): open a fresh one for
    /// the next waiting request, if any.
    pub(crate) fn pool_conn_closed(&mut self, node: NodeId, s: &mut Scheduler<Ev>) {
        loop {
            let Some((_, pool)) = self.pool_parts(node) else { return };
            let Some(next) = pool.pending.pop_front() else { return };
            if self.attempts.contains_key(next) {
                if let Some(conn) = self.pool_acquire(node, next, s) {
                    self.hop_forward(node, next, conn, s);
                }
                return;
            }
        }
    }

    /// A connection is free again: give it to a waiting request, or keep it idle.
    pub(crate) fn pool_release(&mut self, node: NodeId, conn: u32, s: &mut Scheduler<Ev>) {
        if conn == NO_CONN {
            return;
        }
        let now = s.now();
        let Some((_, pool)) = self.pool_parts(node) else { return };
        pool.conns[conn as usize].busy = false;
        pool.conns[conn as usize].last_used = now;
        loop {
            let Some((_, pool)) = self.pool_parts(node) else { return };
            let Some(next) = pool.pending.pop_front() else { break };
            if self.attempts.contains_key(next) {
                let (_, pool) = self.pool_parts(node).expect("checked");
                pool.conns[conn as usize].busy = true;
                self.hop_forward(node, next, conn, s);
                return;
            }
        }
        let (_, pool) = self.pool_parts(node).expect("checked");
        pool.idle.push(conn);
    }

    /// Answers an attempt after a delay (a reset seen after a round trip, a connect timeout).
    fn respond_after(&mut self, attempt: AttemptKey, response: Response, delay: SimDuration, s: &mut Scheduler<Ev>) {
        if let Some(a) = self.attempts.get_mut(attempt) {
            a.response = response;
        }
        s.after(delay, Ev::DelayedAnswer { attempt });
    }

    pub(crate) fn delayed_answer(&mut self, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get(attempt) else { return };
        let r = a.response;
        self.respond(attempt, r, s);
    }

    pub(crate) fn connected(&mut self, attempt: AttemptKey, conn: u32, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get(attempt) else { return };
        let node = a.callee;
        self.hop_forward(node, attempt, conn, s);
    }
}
