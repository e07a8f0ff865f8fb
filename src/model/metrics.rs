//! What a run counts while it runs (bounded memory: counters and histograms, never a list of
//! invocations), and the summary it prints at the end.

use super::Status;
use crate::engine::{SimDuration, SimTime};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

pub(crate) fn histogram() -> Histogram<u64> {
    // Microseconds, 3 significant digits, auto-resizing: memory is a few tens of KiB whatever
    // the run length.
    let mut h = Histogram::new(3).expect("3 significant figures is valid");
    h.auto(true);
    h
}

#[derive(Clone)]
pub struct OrgMetrics {
    pub invocations: u64,
    pub outcomes: BTreeMap<Status, u64>,
    pub latency: Histogram<u64>,
    pub revocations: u64,
    /// Times a cache was left with a refused refresh token without a revocation.
    pub stranded: u64,
    pub revoked_seconds: f64,
    pub api_unauthorized: u64,
    pub duplicate_side_effects: u64,
    pub first_401_at: Option<SimTime>,
}

impl Default for OrgMetrics {
    fn default() -> Self {
        OrgMetrics {
            invocations: 0,
            outcomes: BTreeMap::new(),
            latency: histogram(),
            revocations: 0,
            stranded: 0,
            revoked_seconds: 0.0,
            api_unauthorized: 0,
            duplicate_side_effects: 0,
            first_401_at: None,
        }
    }
}

pub struct Metrics {
    pub orgs: Vec<OrgMetrics>,
    pub queue_wait: Histogram<u64>,
    pub invocations_started: u64,
    pub invocations_ended: u64,
    /// Per component (by node index): attempts sent to it, of which retries.
    pub requests_sent: Vec<u64>,
    pub retries_sent: Vec<u64>,
    pub retries_scheduled: Vec<u64>,
    pub try_timeouts: Vec<u64>,
    pub deadline_timeouts: Vec<u64>,
    pub rate_limited: Vec<u64>,
    pub overload_rejections: Vec<u64>,
    pub max_server_queue: Vec<u64>,
    pub budget_refusals: Vec<u64>,
    pub breaker_rejections: Vec<u64>,
    pub refresh_requests: u64,
    pub rotations: u64,
    pub lost_rotations: u64,
    pub grace_reuses: u64,
    pub reuse_detections: u64,
    pub reuse_allowed: u64,
    pub invalid_grants: u64,
    pub refresh_after_revocation: u64,
    pub family_revocations: u64,
    pub manual_reauths: u64,
    pub api_unauthorized: u64,
    pub side_effects: u64,
    pub duplicate_side_effects: u64,
    pub orphaned_replies: u64,
    pub queue_full_rejections: u64,
    pub max_queue_len: u64,
    pub refresh_wait_timeouts: u64,
    pub refreshes_coalesced: u64,
    pub encoding_rejections: u64,
    pub cancelled_jobs: u64,
    pub first_revocation_at: Option<SimTime>,
    pub idempotent_replays: u64,
    pub idempotency_conflicts: u64,
    pub idempotency_mismatches: u64,
    pub idempotency_store_full: u64,
    pub duplicates_by_hop: BTreeMap<String, u64>,
    pub async_acks: u64,
    pub background_enqueued: u64,
    pub background_completed: u64,
    pub background_failed: u64,
    pub background_retries: u64,
    pub background_lost: u64,
    pub background_rejected: u64,
    pub completion_lag: Histogram<u64>,
    pub restarts: u64,
    pub stranded_families: u64,
    pub unavailable_refusals: u64,
    pub partition_drops: u64,
}

impl Metrics {
    pub fn new(orgs: usize, nodes: usize) -> Self {
        Metrics {
            orgs: vec![OrgMetrics::default(); orgs],
            queue_wait: histogram(),
            invocations_started: 0,
            invocations_ended: 0,
            requests_sent: vec![0; nodes],
            retries_sent: vec![0; nodes],
            retries_scheduled: vec![0; nodes],
            try_timeouts: vec![0; nodes],
            deadline_timeouts: vec![0; nodes],
            rate_limited: vec![0; nodes],
            overload_rejections: vec![0; nodes],
            max_server_queue: vec![0; nodes],
            budget_refusals: vec![0; nodes],
            breaker_rejections: vec![0; nodes],
            refresh_requests: 0,
            rotations: 0,
            lost_rotations: 0,
            grace_reuses: 0,
            reuse_detections: 0,
            reuse_allowed: 0,
            invalid_grants: 0,
            refresh_after_revocation: 0,
            family_revocations: 0,
            manual_reauths: 0,
            api_unauthorized: 0,
            side_effects: 0,
            duplicate_side_effects: 0,
            orphaned_replies: 0,
            queue_full_rejections: 0,
            max_queue_len: 0,
            refresh_wait_timeouts: 0,
            refreshes_coalesced: 0,
            encoding_rejections: 0,
            cancelled_jobs: 0,
            first_revocation_at: None,
            idempotent_replays: 0,
            idempotency_conflicts: 0,
            idempotency_mismatches: 0,
            idempotency_store_full: 0,
            duplicates_by_hop: BTreeMap::new(),
            async_acks: 0,
            background_enqueued: 0,
            background_completed: 0,
            background_failed: 0,
            background_retries: 0,
            background_lost: 0,
            background_rejected: 0,
            completion_lag: histogram(),
            restarts: 0,
            stranded_families: 0,
            unavailable_refusals: 0,
            partition_drops: 0,
        }
    }

    pub fn record_outcome(&mut self, org: u16, status: Status, latency: SimDuration, now: SimTime) {
        self.invocations_ended += 1;
        let us = latency.micros();
        let o = &mut self.orgs[org as usize];
        let _ = o.latency.record(us);
        *o.outcomes.entry(status).or_insert(0) += 1;
        if status == Status::Http(401) && o.first_401_at.is_none() {
            o.first_401_at = Some(now);
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.len() == 0 {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct OrgSummary {
    pub org: String,
    pub invocations: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub success_rate: f64,
    pub unauthorized_401: u64,
    pub latency: LatencySummary,
    pub family_revocations: u64,
    /// Seconds the org's token families spent revoked (revocation to re-authorization, or to the
    /// end of the run), summed over families.
    pub seconds_revoked: f64,
    pub needs_manual_reauth_at_end: bool,
    pub first_401_at_s: Option<f64>,
    pub duplicate_side_effects: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ComponentSummary {
    pub component: String,
    pub kind: String,
    /// Attempts that reached this component, retries included.
    pub requests: u64,
    pub retries: u64,
    pub try_timeouts: u64,
    pub deadline_timeouts: u64,
    /// 429s this component answered because of its rate limit.
    pub rate_limited: u64,
    /// Requests refused because this component's queue was full.
    pub overload_rejections: u64,
    pub max_queue: u64,
    /// Retries towards this component that a retry budget refused.
    pub budget_refusals: u64,
    /// Attempts towards this component that a circuit breaker refused.
    pub breaker_rejections: u64,
    /// Proxies with a keep-alive pool: connections opened, and requests sent on a connection the
    /// upstream had just closed (each answered with the reset status, 502).
    pub connections_opened: u64,
    pub keepalive_resets: u64,
    /// requests / invocations: the load this component sees per invocation.
    pub per_invocation: f64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct IdempotencySummary {
    /// Completed keys whose stored response was replayed.
    pub replays: u64,
    /// 409: a retry arrived while the original was executing.
    pub conflicts: u64,
    /// 422: same key, different payload.
    pub mismatches: u64,
    /// 503: the store was full and refuses new keys.
    pub store_full: u64,
    /// Keys evicted to make room (their retries execute again).
    pub evictions: u64,
    /// Keys forgotten after their TTL.
    pub expirations: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct AsyncSummary {
    /// Requests acknowledged with 200 before the work was done.
    pub acknowledged: u64,
    pub completed: u64,
    /// Jobs that failed every try: the caller was told 200 and will never know.
    pub failed: u64,
    pub retries: u64,
    /// Jobs lost in a restart (in-memory queue).
    pub lost: u64,
    pub rejected_queue_full: u64,
    /// Jobs still queued or running at the end of the run.
    pub pending_at_end: u64,
    /// Time from invocation start to the side effect, for background work.
    pub completion_lag: LatencySummary,
}

/// Everything `edgesim run` reports. Field meanings are documented in the README.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    pub model: String,
    pub seed: u64,
    pub simulated_seconds: f64,
    pub events: u64,
    pub invocations: u64,
    pub invocations_unfinished: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub success_rate: f64,
    pub latency: LatencySummary,
    pub orgs: Vec<OrgSummary>,
    pub components: Vec<ComponentSummary>,
    pub refresh_requests: u64,
    pub rotations: u64,
    pub lost_rotations: u64,
    pub grace_reuses: u64,
    pub reuse_detections: u64,
    pub reuse_allowed: u64,
    pub invalid_grants: u64,
    pub refresh_after_revocation: u64,
    pub family_revocations: u64,
    /// Caches left holding a refresh token the server refuses, without a revocation (reuse
    /// detection `reject` after a lost rotation): stuck until a person re-authorizes.
    pub stranded_families: u64,
    pub manual_reauths: u64,
    pub orgs_needing_manual_reauth: Vec<String>,
    pub sessions_needing_manual_reauth: u64,
    pub first_revocation_at_s: Option<f64>,
    pub api_unauthorized: u64,
    pub side_effects: u64,
    pub duplicate_side_effects: u64,
    /// Duplicates by the caller whose retry sent the duplicate copy.
    pub duplicates_by_hop: BTreeMap<String, u64>,
    pub idempotency: IdempotencySummary,
    pub async_work: AsyncSummary,
    pub restarts: u64,
    /// Cascades found in the causal graph (see `edgesim explain`).
    pub cascades: crate::explain::CascadeSummary,
    /// Requests refused by a component inside an `unavailable` window.
    pub unavailable_refusals: u64,
    /// Requests and replies dropped by a partition.
    pub partition_drops: u64,
    pub orphaned_replies: u64,
    pub queue_full_rejections: u64,
    pub max_queue_len: u64,
    pub mean_queue_wait_ms: f64,
    /// Fraction of service jobs that waited for a worker (Erlang C's probability of waiting).
    pub prob_wait: f64,
    pub refresh_wait_timeouts: u64,
    pub refreshes_coalesced: u64,
    pub encoding_rejections: u64,
    pub cancelled_jobs: u64,
    /// Attempts sent by the workload's clients per invocation.
    pub client_attempts_per_invocation: f64,
    /// Requests reaching the deepest component of the webhook path per invocation.
    pub amplification: f64,
    /// Whether goodput came back after the fault window(s) ended (only for models with a
    /// `slow` fault, the trigger).
    pub recovery: Option<super::timeseries::RecoveryVerdict>,
    /// blake3 of the trace bytes, when a trace was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_hash: Option<String>,
}
