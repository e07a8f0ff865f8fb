//! The causal graph: while the run goes, each notable event records the event(s) that caused
//! it, so a cascade can be told root cause first: a hop's timeout -> the refresh went on as
//! orphaned work and rotated the token -> the caller kept the stale token -> a later refresh
//! presented it -> reuse detected -> family revoked -> N invocations got 401 -> a person
//! re-authorized. And: a timeout -> a retry by a hop -> a duplicate side effect.
//!
//! Only notable events become nodes (timeouts, retries, lost rotations, reuse, revocations,
//! 401s aggregated per revocation, re-authorizations, duplicates, fault windows), so a healthy
//! run records almost nothing; `limits.max_cause_nodes` bounds the graph, and a run that hits it
//! says so (`causes_truncated`) instead of growing.

use super::world::Sim;
use crate::engine::SimTime;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

/// No cause recorded.
pub const NONE: u32 = u32::MAX;
/// Marks the id of a pending node (see `CauseLog::add_pending`).
const PENDING: u32 = 1 << 31;
/// Pending timeouts and retries kept (the most recent ones).
const PENDING_RING: usize = 1 << 16;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseKind {
    /// A fault window from the model's timeline.
    Fault,
    /// A caller stopped waiting (per-try timeout or deadline); the work downstream goes on.
    Timeout,
    /// A caller retried.
    Retry,
    /// A rotation whose new refresh token never reached the cache.
    LostRotation,
    /// Two refreshes of one family were in flight at once with the same refresh token.
    ConcurrentRefresh,
    ReuseDetected,
    FamilyRevoked,
    /// Invocations answered 401 while a family was revoked (one node per revocation, counted).
    Unauthorized,
    ManualReauth,
    DuplicateSideEffect,
}

/// What a node says. The frequent kinds (timeouts, retries: thousands in a retry storm) keep
/// numbers and are put into words only when a cascade is explained, so recording stays cheap.
#[derive(Clone, Debug)]
pub enum Detail {
    Text(String),
    Timeout { caller_spec: u32, callee: u16, payload: &'static str, after: crate::engine::SimDuration, deadline: bool, try_n: u32 },
    Retry { caller_spec: u32, status: super::Status, try_n: u32 },
}

#[derive(Clone, Debug)]
pub struct CauseNode {
    pub kind: CauseKind,
    pub time: SimTime,
    /// For aggregated nodes: the last occurrence.
    pub until: SimTime,
    /// Component index (see `CauseLog::components`).
    pub component: Option<u16>,
    pub org: Option<u16>,
    pub session: Option<u32>,
    pub invocation: Option<u64>,
    /// Occurrences aggregated in this node (401s, duplicates).
    pub count: u64,
    pub detail: Detail,
}

pub struct CauseLog {
    pub graph: DiGraph<CauseNode, ()>,
    /// Timeouts and retries are kept here, off the graph, until a notable event names one as a
    /// cause; only then is it (and its own causes) put into the graph. A ring of the most recent
    /// `PENDING_RING` of them: a retry storm's timeouts that led to nothing notable cost one write
    /// each and no memory growth. A cause older than the ring is dropped from the chain (the
    /// chain then starts later than it should; `pending_evicted` counts how often that mattered).
    pending: Vec<(CauseNode, [u32; 2], u32, u32)>,
    pending_seq: u32,
    pub pending_evicted: u64,
    pub max_nodes: usize,
    pub truncated: bool,
    /// Component names by index, and caller names by call spec, for putting nodes into words.
    pub components: Vec<String>,
    pub callers: Vec<String>,
}

impl CauseLog {
    pub fn new(max_nodes: usize) -> Self {
        CauseLog {
            graph: DiGraph::new(),
            pending: Vec::new(),
            pending_seq: 0,
            pending_evicted: 0,
            max_nodes,
            truncated: false,
            components: vec![],
            callers: vec![],
        }
    }

    /// Records a pending node (a timeout or a retry). Returns its id (high bit set).
    pub fn add_pending(&mut self, node: CauseNode, parents: [u32; 2]) -> u32 {
        if self.max_nodes == 0 {
            return NONE;
        }
        let seq = self.pending_seq & !PENDING;
        self.pending_seq = self.pending_seq.wrapping_add(1) & !PENDING;
        let slot = seq as usize % PENDING_RING;
        if self.pending.len() < PENDING_RING {
            self.pending.push((node, parents, NONE, seq));
        } else {
            self.pending[slot] = (node, parents, NONE, seq);
        }
        seq | PENDING
    }

    /// The graph node for an id, putting a pending node (and its causes) into the graph first.
    fn materialize(&mut self, id: u32) -> u32 {
        if id == NONE || id & PENDING == 0 {
            return id;
        }
        let seq = id & !PENDING;
        let slot = seq as usize % PENDING_RING;
        let Some((_, parents, done, stored)) = self.pending.get(slot).map(|(_, p, d, s)| ((), *p, *d, *s)) else { return NONE };
        if stored != seq {
            self.pending_evicted += 1;
            return NONE;
        }
        if done != NONE {
            return done;
        }
        if self.graph.node_count() >= self.max_nodes {
            self.truncated = true;
            return NONE;
        }
        let parents = [self.materialize(parents[0]), self.materialize(parents[1])];
        let node = self.pending[slot].0.clone();
        let g = self.graph.add_node(node).index() as u32;
        for p in parents {
            if p != NONE {
                self.graph.add_edge(NodeIndex::new(p as usize), NodeIndex::new(g as usize), ());
            }
        }
        self.pending[slot].2 = g;
        g
    }

    /// A node's text.
    pub fn describe(&self, n: &CauseNode) -> String {
        match &n.detail {
            Detail::Text(t) => t.clone(),
            Detail::Timeout { caller_spec, callee, payload, after, deadline, try_n } => format!(
                "{} gave up on its {payload} to {} after {after} ({}, try {try_n}); the work there goes on",
                self.callers.get(*caller_spec as usize).map(String::as_str).unwrap_or("?"),
                self.components.get(*callee as usize).map(String::as_str).unwrap_or("?"),
                if *deadline { "deadline" } else { "per-try timeout" },
            ),
            Detail::Retry { caller_spec, status, try_n } => {
                format!("{} retries after {} (try {try_n})", self.callers.get(*caller_spec as usize).map(String::as_str).unwrap_or("?"), status.label())
            }
        }
    }

    pub fn component_name(&self, n: &CauseNode) -> Option<&str> {
        n.component.and_then(|c| self.components.get(c as usize)).map(String::as_str)
    }

    /// Adds a node caused by `parents` (NONE entries ignored). Returns its id, or NONE when the
    /// graph is full.
    pub fn add(&mut self, node: CauseNode, parents: &[u32]) -> u32 {
        if self.graph.node_count() >= self.max_nodes {
            self.truncated = true;
            return NONE;
        }
        let parents: Vec<u32> = parents.iter().map(|p| self.materialize(*p)).collect();
        let id = self.graph.add_node(node);
        for p in parents {
            if p != NONE {
                self.graph.add_edge(NodeIndex::new(p as usize), id, ());
            }
        }
        id.index() as u32
    }

    /// No more nodes will be recorded (checked before formatting a node's text).
    #[inline]
    pub fn is_full(&mut self) -> bool {
        if self.graph.node_count() >= self.max_nodes {
            self.truncated |= self.max_nodes > 0;
            return true;
        }
        false
    }

    pub fn node_mut(&mut self, id: u32) -> Option<&mut CauseNode> {
        if id == NONE {
            return None;
        }
        self.graph.node_weight_mut(NodeIndex::new(id as usize))
    }
}

impl Sim {
    /// Records a cause node with the component's name and the given parents.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cause(
        &mut self,
        kind: CauseKind,
        time: SimTime,
        component: Option<u16>,
        org: Option<u16>,
        session: Option<u32>,
        invocation: Option<u64>,
        detail: String,
        parents: &[u32],
    ) -> u32 {
        self.cause_with(kind, time, component, org, session, invocation, Detail::Text(detail), parents)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cause_with(
        &mut self,
        kind: CauseKind,
        time: SimTime,
        component: Option<u16>,
        org: Option<u16>,
        session: Option<u32>,
        invocation: Option<u64>,
        detail: Detail,
        parents: &[u32],
    ) -> u32 {
        let component = component.filter(|c| *c != u16::MAX);
        let node = CauseNode { kind, time, until: time, component, org, session, invocation, count: 1, detail };
        match node.kind {
            CauseKind::Timeout | CauseKind::Retry => {
                let p = [parents.first().copied().unwrap_or(NONE), parents.get(1).copied().unwrap_or(NONE)];
                self.causes.add_pending(node, p)
            }
            _ => self.causes.add(node, parents),
        }
    }

    /// The fault window active on a component at `now`, as a cause node (created once per window).
    pub(crate) fn fault_cause(&mut self, node: u16, now: SimTime) -> u32 {
        let Some(i) = self.fault_log.iter().position(|w| w.node == node && w.start <= now && now < w.end) else { return NONE };
        if self.fault_nodes[i] == NONE {
            let w = self.fault_log[i].clone();
            self.fault_nodes[i] =
                self.cause(CauseKind::Fault, w.start, Some(w.node), None, None, None, format!("{} from {} to {}", w.label, w.start, w.end), &[]);
        }
        self.fault_nodes[i]
    }

    /// A caller stopped waiting for an attempt: a Timeout node, caused by the retry that sent
    /// the attempt and by a fault window active on the callee.
    pub(crate) fn record_timeout(&mut self, attempt: super::AttemptKey, what: &str, now: SimTime) -> u32 {
        if self.causes.is_full() {
            return NONE;
        }
        let Some(a) = self.attempts.get(attempt) else { return NONE };
        let (callee, org, session, spec, number, sent, cause) = (a.callee, a.org, a.session, a.spec, a.number, a.sent_at, a.cause);
        let inv_id = a.invocation.and_then(|i| self.invocations.get(i)).map(|i| i.id);
        let payload = match a.payload {
            super::Payload::Refresh { .. } => "refresh",
            super::Payload::Api { .. } => "API call",
            super::Payload::Webhook { .. } => "webhook call",
        };
        let fault = self.fault_cause(callee, now);
        let detail = Detail::Timeout { caller_spec: spec, callee, payload, after: now.since(sent), deadline: what == "deadline", try_n: number };
        let id = self.cause_with(CauseKind::Timeout, now, Some(callee), Some(org), Some(session), inv_id, detail, &[cause, fault]);
        if let Some(a) = self.attempts.get_mut(attempt) {
            a.timeout_cause = id;
        }
        id
    }

    /// An orphaned refresh reply carried a rotated token nobody will store.
    pub(crate) fn record_lost_rotation(&mut self, a: &super::call::Attempt, refresh: super::RefreshToken, now: SimTime) {
        let fam = refresh.family as usize;
        if self.families[fam].lost_rotation.is_some_and(|(g, _)| g == refresh.generation) {
            return;
        }
        let inv_id = a.invocation.and_then(|i| self.invocations.get(i)).map(|i| i.id);
        let id = self.cause(
            CauseKind::LostRotation,
            now,
            Some(a.callee),
            Some(a.org),
            Some(a.session),
            inv_id,
            format!(
                "{} rotated the refresh token to generation {} after the caller had given up; the cache keeps generation {}",
                self.nodes[a.callee as usize].name,
                refresh.generation,
                refresh.generation.saturating_sub(1)
            ),
            &[a.timeout_cause],
        );
        self.families[fam].lost_rotation = Some((refresh.generation, id));
    }

    /// Reuse detected: caused by the rotation that made the presented token stale, which was
    /// either lost (its caller had given up) or made by a concurrent refresh.
    pub(crate) fn record_reuse(&mut self, attempt: super::AttemptKey, token: super::RefreshToken, now: SimTime) -> u32 {
        let fam = &self.families[token.family as usize];
        let stale_gen = fam.generation;
        let rotator = fam.rotated_by;
        let mut cause = match fam.lost_rotation {
            Some((g, node)) if g == stale_gen => node,
            _ => NONE,
        };
        if cause == NONE {
            if let Some(r) = rotator.and_then(|k| self.attempts.get(k)) {
                if r.state == super::call::AttemptState::Abandoned {
                    // The rotating refresh's caller gave up; its reply has not come back yet.
                    let r = super::call::Attempt { ..*r };
                    let refresh = super::RefreshToken { family: token.family, epoch: token.epoch, generation: stale_gen };
                    self.record_lost_rotation(&r, refresh, now);
                    cause = self.families[token.family as usize].lost_rotation.map(|x| x.1).unwrap_or(NONE);
                }
            }
        }
        let Some(a) = self.attempts.get(attempt) else { return NONE };
        let (callee, org, session) = (a.callee, a.org, a.session);
        let inv_id = a.invocation.and_then(|i| self.invocations.get(i)).map(|i| i.id);
        if cause == NONE {
            cause = self.cause(
                CauseKind::ConcurrentRefresh,
                now,
                Some(callee),
                Some(org),
                Some(session),
                inv_id,
                format!("another refresh rotated the token to generation {stale_gen} while this one was in flight with generation {}", token.generation),
                &[],
            );
        }
        let detail = format!("a refresh presented rotated refresh token generation {} (current {stale_gen}): reuse", token.generation);
        self.cause(CauseKind::ReuseDetected, now, Some(callee), Some(org), Some(session), inv_id, detail, &[cause])
    }

    /// An invocation of `org` ended with 401: count it on the revocation it belongs to.
    pub(crate) fn record_unauthorized(&mut self, org: u16, session: u32, now: SimTime) {
        let f = self.families.iter().position(|f| f.org == org && (f.session == session || f.session == 0) && f.revoked_node != NONE);
        let Some(f) = f else { return };
        let fam = &self.families[f];
        if fam.unauthorized_node == NONE {
            let parent = fam.revoked_node;
            let detail = format!("invocations of org {} answered 401", self.model.orgs[org as usize].name);
            let id = self.cause(CauseKind::Unauthorized, now, None, Some(org), Some(session), None, detail, &[parent]);
            self.families[f].unauthorized_node = id;
        } else if let Some(n) = self.causes.node_mut(fam.unauthorized_node) {
            n.count += 1;
            n.until = now;
        }
    }
}
