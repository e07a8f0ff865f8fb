//! The state of one run and the event dispatch. `Sim::build` wires the components of a validated
//! model; `run` drives it to the horizon and returns the summary.

use super::call::{Attempt, CallSpec, Exchange};
use super::config::{ComponentConfig, Model, UpstreamConfig};
use super::edge::Edge;
use super::fault::{FaultConfig, FaultWindow};
use super::metrics::{ComponentSummary, LatencySummary, Metrics, OrgSummary, Summary};
use super::platform_api::PlatformApi;
use super::proxy::Proxy;
use super::service::{Job, Service};
use super::token_cache::{CacheScope, TokenCache};
use super::token_endpoint::{TokenEndpoint, TokenFamily};
use super::trace::{TraceFormat, Tracer};
use super::workload::{Arrivals, Invocation, Workload};
use super::{AccessToken, AttemptKey, ExchangeKey, InvocationKey, JobKey, NodeId, RefreshToken};
use crate::engine::sim::{run_until, Stop};
use crate::engine::{component_rng, ComponentRng, LimitExceeded, Scheduler, SimDuration, SimTime, World};
use rand::Rng;
use slotmap::SlotMap;
use std::collections::BTreeMap;
use std::io::Write;

/// Every event of the model. Small and `Copy`: the heap moves them around a lot.
#[derive(Copy, Clone, Debug)]
pub enum Ev {
    Arrival {
        workload: u32,
        session: Option<u32>,
    },
    Deliver {
        attempt: AttemptKey,
    },
    Reply {
        attempt: AttemptKey,
    },
    TryTimeout {
        attempt: AttemptKey,
    },
    Deadline {
        exchange: ExchangeKey,
    },
    Retry {
        exchange: ExchangeKey,
    },
    /// A circuit breaker refused an attempt: the caller sees the failure at once.
    LocalReject {
        exchange: ExchangeKey,
    },
    /// A proxy's new upstream connection is open.
    Connected {
        attempt: AttemptKey,
        conn: u32,
    },
    /// An answer decided earlier leaves now (a reset seen after a round trip).
    DelayedAnswer {
        attempt: AttemptKey,
    },
    ServerDone {
        attempt: AttemptKey,
    },
    JobWorkDone {
        job: JobKey,
    },
    RefreshWaitExpired {
        job: JobKey,
    },
    ManualReauth {
        family: u32,
    },
    BackgroundRetry {
        job: JobKey,
    },
    ServiceRestart {
        node: NodeId,
        down_for: SimDuration,
    },
    ServiceUp {
        node: NodeId,
    },
    Fault {
        index: u32,
        starting: bool,
    },
    AdminRevoke {
        org: u16,
    },
}

pub enum NodeKind {
    Edge(Edge),
    Proxy(Proxy),
    Service(Service),
    TokenEndpoint(TokenEndpoint),
    PlatformApi(PlatformApi),
}

pub struct Node {
    pub name: String,
    pub kind: NodeKind,
}

pub struct Sim {
    pub(crate) model: Model,
    pub(crate) seed: u64,
    pub(crate) nodes: Vec<Node>,
    pub(crate) specs: Vec<CallSpec>,
    pub(crate) rngs: Vec<ComponentRng>,
    pub(crate) org_rngs: Vec<usize>,
    pub(crate) exchanges: SlotMap<ExchangeKey, Exchange>,
    pub(crate) attempts: SlotMap<AttemptKey, Attempt>,
    pub(crate) invocations: SlotMap<InvocationKey, Invocation>,
    pub(crate) jobs: SlotMap<JobKey, Job>,
    pub(crate) families: Vec<TokenFamily>,
    pub(crate) caches: Vec<TokenCache>,
    pub(crate) workloads: Vec<Workload>,
    pub(crate) slow_windows: Vec<FaultWindow>,
    /// Error-rate windows (`factor` holds the rate).
    pub(crate) error_windows: Vec<FaultWindow>,
    /// Malformed-answer windows (`factor` holds the rate).
    pub(crate) malformed_windows: Vec<FaultWindow>,
    /// Capacity windows (`factor` holds the worker count).
    pub(crate) capacity_windows: Vec<FaultWindow>,
    /// Partitioned links: (call spec, start, end).
    pub(crate) partitions: Vec<(u32, SimTime, SimTime)>,
    pub(crate) unavailable_windows: Vec<(NodeId, SimTime, SimTime, Option<u16>)>,
    /// Every fault window, for traces and the time series.
    pub(crate) fault_log: Vec<super::fault::WindowLog>,
    /// Cause node of each fault window, once created.
    pub(crate) fault_nodes: Vec<u32>,
    pub(crate) causes: super::causes::CauseLog,
    pub(crate) admin_revocations: Vec<(u16, SimTime)>,
    pub(crate) restarts: Vec<(NodeId, SimTime, SimDuration)>,
    pub(crate) metrics: Metrics,
    pub(crate) trace: Option<Tracer>,
    pub(crate) timeseries: Option<super::timeseries::TimeSeries>,
    pub(crate) goodput: Option<super::timeseries::GoodputLog>,
    pub(crate) ts_next: SimTime,
    pub(crate) arrivals_end: SimTime,
    pub(crate) in_flight: u64,
    pub(crate) next_invocation_id: u64,
}

/// Errors a run can stop with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A bound was reached (fatal for this run; raise the named setting).
    #[error(transparent)]
    Limit(#[from] LimitExceeded),
    /// The model is inconsistent in a way validation should have caught (a bug in edgesim).
    #[error("model cannot be built: {0}")]
    Build(String),
    /// The trace could not be written.
    #[error("trace: {0}")]
    Trace(String),
}

/// How to run a model.
#[derive(Default)]
pub struct RunOptions {
    /// Overrides `simulation.seed`.
    pub seed: Option<u64>,
    /// Overrides `simulation.duration`.
    pub duration: Option<SimDuration>,
    /// Stream a trace here.
    pub trace: Option<(Box<dyn Write>, TraceFormat)>,
    /// Stream per-second load (CSV) here.
    pub timeseries: Option<Box<dyn Write>>,
}

fn resolve(names: &BTreeMap<&str, NodeId>, name: &str) -> Result<NodeId, RunError> {
    names.get(name).copied().ok_or_else(|| RunError::Build(format!("unknown component `{name}`")))
}

impl Sim {
    pub fn build(model: Model, opts: &mut RunOptions) -> Result<(Sim, Scheduler<Ev>), RunError> {
        let seed = opts.seed.unwrap_or(model.simulation.seed);
        let duration = opts.duration.unwrap_or(model.simulation.duration);
        let names: BTreeMap<&str, NodeId> = model.components.keys().enumerate().map(|(i, n)| (n.as_str(), i as NodeId)).collect();
        let org_index: BTreeMap<&str, u16> = model.orgs.iter().enumerate().map(|(i, o)| (o.name.as_str(), i as u16)).collect();
        let mut rngs = Vec::new();
        let mut specs = Vec::new();
        let mut nodes = Vec::new();
        let mut families = Vec::new();
        let mut caches = Vec::new();

        let make_spec = |specs: &mut Vec<CallSpec>, rng: usize, caller: &str, u: &UpstreamConfig, deadline: Option<SimDuration>| -> Result<u32, RunError> {
            let deadline = match (deadline, u.deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            specs.push(CallSpec {
                rng,
                caller_name: caller.to_string(),
                target: resolve(&names, &u.target)?,
                latency: u.latency.clone(),
                try_timeout: u.timeout,
                deadline,
                retry: u.retry.clone(),
                budget: u.retry_budget.as_ref().map(super::resilience::RetryBudget::new),
                breaker: u.circuit_breaker.clone().map(super::resilience::CircuitBreaker::new),
                active_requests: 0,
                active_retries: 0,
                new_payload_on_retry: false,
            });
            Ok(specs.len() as u32 - 1)
        };

        // Components, in name order; each gets the stream named after it.
        for (name, cfg) in &model.components {
            rngs.push(component_rng(seed, &format!("component:{name}")));
            let rng = rngs.len() - 1;
            let kind = match cfg {
                ComponentConfig::Edge(e) => {
                    let spec = make_spec(&mut specs, rng, name, &e.upstream, Some(e.deadline))?;
                    NodeKind::Edge(Edge { config: e.clone(), spec })
                }
                ComponentConfig::Proxy(p) => {
                    let spec = make_spec(&mut specs, rng, name, &p.upstream, None)?;
                    NodeKind::Proxy(Proxy { config: p.clone(), spec, pool: p.keep_alive.as_ref().map(|_| Default::default()) })
                }
                ComponentConfig::Service(sv) => {
                    let token_spec = sv.token_endpoint.as_ref().map(|u| make_spec(&mut specs, rng, name, u, None)).transpose()?;
                    let api_spec = sv.platform_api.as_ref().map(|u| make_spec(&mut specs, rng, name, u, None)).transpose()?;
                    let per_session = sv.token_cache.scope == CacheScope::Session;
                    let cache_base = caches.len() as u32;
                    let mut org_cache_offset = vec![];
                    if let Some(ts) = token_spec {
                        // The token endpoint may sit behind proxies.
                        let target = sv.token_endpoint.as_ref().map(|u| u.target.as_str()).unwrap_or("");
                        let (endpoint, ttl) = match model.reached_through_proxies(target, "token-endpoint").map(|n| (n, model.components.get(n))) {
                            Some((n, Some(ComponentConfig::TokenEndpoint(t)))) => (resolve(&names, n)?, t.access_token_ttl),
                            _ => return Err(RunError::Build(format!("service `{name}`: token_endpoint.target does not lead to a token endpoint"))),
                        };
                        let mut off = 0u32;
                        for (oi, org) in model.orgs.iter().enumerate() {
                            org_cache_offset.push(off);
                            let n = if per_session { org.sessions } else { 1 };
                            // The token held at the start expires at `first_expiry`, or at a
                            // point drawn uniformly over one lifetime (from the org's own stream,
                            // so other components do not shift it).
                            let mut org_rng = component_rng(seed, &format!("token-cache:{name}:{}", org.name));
                            for session in 0..n {
                                let family = families.len() as u32;
                                let expires_at = match org.first_expiry {
                                    Some(d) => SimTime(d.micros()),
                                    None => SimTime(org_rng.gen_range(0..=ttl.micros())),
                                };
                                families.push(TokenFamily {
                                    org: oi as u16,
                                    session,
                                    endpoint,
                                    epoch: 0,
                                    generation: 0,
                                    rotated_at: None,
                                    revoked_at: None,
                                    rotated_by: None,
                                    lost_rotation: None,
                                    revoked_node: super::causes::NONE,
                                    unauthorized_node: super::causes::NONE,
                                    stranded_at: None,
                                });
                                caches.push(TokenCache {
                                    family,
                                    org: oi as u16,
                                    session,
                                    access: AccessToken { family, epoch: 0, generation: 0, expires_at },
                                    refresh: RefreshToken { family, epoch: 0, generation: 0 },
                                    encoding: sv.token_cache.encoding,
                                    mode: sv.token_cache.refresh,
                                    refresh_ahead: sv.token_cache.refresh_ahead,
                                    max_wait: sv.token_cache.max_wait,
                                    token_spec: ts,
                                    in_flight: false,
                                    waiters: vec![],
                                    reauth_required: false,
                                });
                            }
                            off += n;
                        }
                    }
                    NodeKind::Service(Service {
                        config: sv.clone(),
                        rng,
                        busy: 0,
                        queue: Default::default(),
                        store: sv.idempotency.enabled.then(|| super::idempotency::IdempotencyStore::new(sv.idempotency.clone())),
                        bg_busy: 0,
                        bg_queue: Default::default(),
                        down_until: None,
                        token_spec,
                        api_spec,
                        cache_base,
                        per_session,
                        org_cache_offset,
                    })
                }
                ComponentConfig::TokenEndpoint(t) => {
                    let step_applies =
                        t.validation.iter().map(|st| model.orgs.iter().map(|o| st.orgs.is_empty() || st.orgs.iter().any(|n| *n == o.name)).collect()).collect();
                    NodeKind::TokenEndpoint(TokenEndpoint { config: t.clone(), rng, step_applies, server: super::server::ServerState::new(&t.server) })
                }
                ComponentConfig::PlatformApi(a) => {
                    NodeKind::PlatformApi(PlatformApi { config: a.clone(), rng, server: super::server::ServerState::new(&a.server) })
                }
            };
            nodes.push(Node { name: name.clone(), kind });
        }

        let mut workloads = Vec::new();
        for (i, w) in model.workload.iter().enumerate() {
            let org = *org_index.get(w.org.as_str()).ok_or_else(|| RunError::Build(format!("unknown org `{}`", w.org)))?;
            let name = w.name.clone().unwrap_or_else(|| format!("workload-{}-{i}", w.org));
            rngs.push(component_rng(seed, &format!("workload:{name}")));
            let rng = rngs.len() - 1;
            // The client's link and retry jitter draw from their own stream, so a change of
            // retry policy does not move the workload's arrivals.
            rngs.push(component_rng(seed, &format!("client:{name}")));
            let client_rng = rngs.len() - 1;
            let c = &w.client;
            let u = UpstreamConfig {
                target: w.target.clone(),
                latency: c.latency.clone(),
                timeout: c.timeout,
                deadline: c.deadline,
                retry: c.retry.clone(),
                retry_budget: c.retry_budget.clone(),
                circuit_breaker: c.circuit_breaker.clone(),
            };
            let spec = make_spec(&mut specs, client_rng, &name, &u, None)?;
            specs[spec as usize].new_payload_on_retry = c.new_payload_on_retry;
            let rate = match &w.arrivals {
                Arrivals::Poisson { rate, .. } => *rate,
                _ => 0.0,
            };
            workloads.push(Workload {
                org,
                rng,
                spec,
                arrivals: w.arrivals.clone(),
                next_step: 0,
                rate,
                sessions_in_org: model.orgs[org as usize].sessions.max(1),
                idempotency_keys: c.idempotency_keys,
            });
        }
        let mut org_rngs = Vec::new();
        for o in &model.orgs {
            rngs.push(component_rng(seed, &format!("org:{}", o.name)));
            org_rngs.push(rngs.len() - 1);
        }
        let mut slow_windows = Vec::new();
        let mut admin_revocations = Vec::new();
        let mut error_windows = Vec::new();
        let mut malformed_windows = Vec::new();
        let mut restarts = Vec::new();
        let mut capacity_windows = Vec::new();
        let mut partitions = Vec::new();
        let mut unavailable_windows = Vec::new();
        let mut fault_log = Vec::new();
        let t = |d: &SimDuration| SimTime(d.micros());
        for f in &model.faults {
            match f {
                FaultConfig::Slow { component, start, end, factor } => {
                    let node = resolve(&names, component)?;
                    slow_windows.push(FaultWindow { node, start: t(start), end: t(end), factor: *factor });
                    fault_log.push(super::fault::WindowLog { node, start: t(start), end: t(end), label: format!("slow: latency x{factor}") });
                }
                FaultConfig::Errors { component, start, end, rate, malformed } => {
                    let node = resolve(&names, component)?;
                    let w = FaultWindow { node, start: t(start), end: t(end), factor: *rate };
                    let label = if *malformed {
                        malformed_windows.push(w);
                        format!("errors: {rate} of answers malformed")
                    } else {
                        error_windows.push(w);
                        format!("errors: +{rate} failure rate")
                    };
                    fault_log.push(super::fault::WindowLog { node, start: t(start), end: t(end), label });
                }
                FaultConfig::Capacity { component, start, end, workers } => {
                    let node = resolve(&names, component)?;
                    capacity_windows.push(FaultWindow { node, start: t(start), end: t(end), factor: *workers as f64 });
                    fault_log.push(super::fault::WindowLog { node, start: t(start), end: t(end), label: format!("capacity: {workers} workers") });
                }
                FaultConfig::Partition { from, to, start, end } => {
                    let node = resolve(&names, to)?;
                    for (i, sp) in specs.iter().enumerate() {
                        if sp.caller_name == *from && sp.target == node {
                            partitions.push((i as u32, t(start), t(end)));
                        }
                    }
                    fault_log.push(super::fault::WindowLog { node, start: t(start), end: t(end), label: format!("partition: {from} -> {to}") });
                }
                FaultConfig::Unavailable { component, start, end, status } => {
                    let node = resolve(&names, component)?;
                    unavailable_windows.push((node, t(start), t(end), *status));
                    let what = status.map(|c| format!("answers {c}")).unwrap_or_else(|| "refuses connections".into());
                    fault_log.push(super::fault::WindowLog { node, start: t(start), end: t(end), label: format!("unavailable: {what}") });
                }
                FaultConfig::Restart { component, at, down_for } => restarts.push((resolve(&names, component)?, SimTime(at.micros()), *down_for)),
                FaultConfig::RevokeAuthorization { org, at } => {
                    let o = *org_index.get(org.as_str()).ok_or_else(|| RunError::Build(format!("unknown org `{org}`")))?;
                    admin_revocations.push((o, SimTime(at.micros())));
                }
            }
        }

        let trace = opts.trace.take().map(|(w, f)| Tracer::new(w, f, model.limits.max_trace_bytes));
        let mut causes = super::causes::CauseLog::new(model.limits.max_cause_nodes as usize);
        causes.components = nodes.iter().map(|n: &Node| n.name.clone()).collect();
        causes.callers = specs.iter().map(|sp| sp.caller_name.clone()).collect();
        let timeseries = opts.timeseries.take().map(|mut out| {
            let error = out.write_all(super::timeseries::HEADER.as_bytes()).err().map(|e| e.to_string());
            super::timeseries::TimeSeries {
                out,
                width: SimDuration::from_secs(1),
                current: 0,
                buckets: vec![Default::default(); nodes.len() + 1],
                in_flight: vec![0; nodes.len() + 1],
                error,
            }
        });
        let goodput = (!slow_windows.is_empty()).then(super::timeseries::GoodputLog::default);
        let metrics = Metrics::new(model.orgs.len(), nodes.len());
        let sched = Scheduler::new(&model.limits);
        let sim = Sim {
            seed,
            nodes,
            specs,
            rngs,
            org_rngs,
            exchanges: SlotMap::with_key(),
            attempts: SlotMap::with_key(),
            invocations: SlotMap::with_key(),
            jobs: SlotMap::with_key(),
            families,
            caches,
            workloads,
            slow_windows,
            error_windows,
            malformed_windows,
            capacity_windows,
            partitions,
            unavailable_windows,
            fault_nodes: vec![super::causes::NONE; fault_log.len()],
            fault_log,
            causes,
            admin_revocations,
            restarts,
            metrics,
            trace,
            ts_next: if timeseries.is_some() { SimTime(1_000_000) } else { SimTime::MAX },
            timeseries,
            goodput,
            arrivals_end: SimTime(duration.micros()),
            in_flight: 0,
            next_invocation_id: 0,
            model,
        };
        Ok((sim, sched))
    }

    fn deliver(&mut self, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get(attempt) else { return };
        let node = a.callee;
        if a.state == super::call::AttemptState::Abandoned && self.cancels_on_disconnect(node) {
            // The caller hung up before the request arrived and this component notices.
            self.release_undelivered(attempt);
            return;
        }
        self.ts_offered(node as usize);
        if let Some(r) = self.unavailable(node, s.now()) {
            self.metrics.unavailable_refusals += 1;
            self.respond(attempt, r, s);
            return;
        }
        match &self.nodes[node as usize].kind {
            NodeKind::Edge(_) | NodeKind::Proxy(_) => self.hop_on_request(node, attempt, s),
            NodeKind::Service(_) => self.service_on_request(node, attempt, s),
            NodeKind::TokenEndpoint(_) | NodeKind::PlatformApi(_) => self.server_on_request(node, attempt, s),
        }
    }

    fn cancels_on_disconnect(&self, node: NodeId) -> bool {
        match &self.nodes[node as usize].kind {
            NodeKind::Edge(e) => e.config.cancel_on_disconnect,
            NodeKind::Proxy(p) => p.config.cancel_on_disconnect,
            NodeKind::Service(s) => s.config.cancel_on_disconnect,
            _ => false,
        }
    }

    fn release_undelivered(&mut self, attempt: AttemptKey) {
        if let Some(a) = self.attempts.remove(attempt) {
            self.in_flight -= 1;
            if let Some(inv) = a.invocation {
                self.unref_invocation(inv);
            }
        }
    }

    fn server_done(&mut self, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let Some(a) = self.attempts.get(attempt) else { return };
        let node = a.callee;
        match &self.nodes[node as usize].kind {
            NodeKind::TokenEndpoint(_) => self.token_endpoint_done(node, attempt, s),
            NodeKind::PlatformApi(_) => self.platform_api_done(node, attempt, s),
            _ => {}
        }
    }

    pub(crate) fn access_ttl(&self, endpoint: NodeId) -> SimDuration {
        match &self.nodes[endpoint as usize].kind {
            NodeKind::TokenEndpoint(t) => t.config.access_token_ttl,
            _ => SimDuration::from_secs(300),
        }
    }

    /// Runs the model to the end of its drain period and returns the summary.
    pub fn run(self, s: Scheduler<Ev>) -> Result<Summary, RunError> {
        self.run_with_causes(s).map(|(summary, _)| summary)
    }

    /// Runs the model and returns the summary with the causal graph.
    pub fn run_with_causes(mut self, mut s: Scheduler<Ev>) -> Result<(Summary, super::causes::CauseLog), RunError> {
        self.start_workloads(&mut s);
        self.schedule_faults(&mut s);
        let horizon = self.arrivals_end + self.model.simulation.drain;
        let stop = run_until(&mut self, &mut s, horizon)?;
        let end = if stop == Stop::Drained { s.now().max(self.arrivals_end) } else { horizon };
        if self.timeseries.is_some() {
            self.ts_roll(end);
            self.ts_flush();
            let mut ts = self.timeseries.take().expect("checked");
            if let Some(e) = ts.error.take().or_else(|| ts.out.flush().err().map(|e| e.to_string())) {
                return Err(RunError::Trace(format!("time series: {e}")));
            }
        }
        let trace = self.trace.take();
        let trace_hash = match trace {
            Some(t) => Some(t.finish().map_err(RunError::Trace)?.1),
            None => None,
        };
        let summary = self.summarize(end, s.events_processed(), trace_hash);
        let causes = std::mem::replace(&mut self.causes, super::causes::CauseLog::new(0));
        Ok((summary, causes))
    }

    fn summarize(&mut self, end: SimTime, events: u64, trace_hash: Option<String>) -> Summary {
        let m = &mut self.metrics;
        let mut orgs_needing = Vec::new();
        let mut sessions_needing = 0;
        let mut still_revoked = vec![false; self.model.orgs.len()];
        for f in &self.families {
            if let Some(r) = f.revoked_at.or(f.stranded_at) {
                m.orgs[f.org as usize].revoked_seconds += end.since(r).as_secs_f64();
                still_revoked[f.org as usize] = true;
                sessions_needing += 1;
            }
        }
        let invocations = m.invocations_started;
        let per_inv = |n: u64| if invocations == 0 { 0.0 } else { n as f64 / invocations as f64 };
        let mut outcomes = BTreeMap::new();
        let mut orgs = Vec::new();
        let mut successes = 0;
        for (i, o) in m.orgs.iter().enumerate() {
            let mut oc = BTreeMap::new();
            let mut ok = 0;
            for (st, n) in &o.outcomes {
                *outcomes.entry(st.label()).or_insert(0) += n;
                oc.insert(st.label(), *n);
                if st.is_success() {
                    ok += n;
                }
            }
            successes += ok;
            let name = self.model.orgs[i].name.clone();
            if still_revoked[i] || o.revocations > 0 || o.stranded > 0 {
                orgs_needing.push(name.clone());
            }
            let ended: u64 = o.outcomes.values().sum();
            orgs.push(OrgSummary {
                org: name,
                invocations: o.invocations,
                success_rate: if ended == 0 { 0.0 } else { ok as f64 / ended as f64 },
                unauthorized_401: *o.outcomes.get(&super::Status::Http(401)).unwrap_or(&0),
                outcomes: oc,
                latency: LatencySummary::of(&o.latency),
                family_revocations: o.revocations,
                seconds_revoked: o.revoked_seconds,
                needs_manual_reauth_at_end: still_revoked[i],
                first_401_at_s: o.first_401_at.map(|t| t.as_secs_f64()),
                duplicate_side_effects: o.duplicate_side_effects,
            });
        }
        let mut components = Vec::new();
        let mut amplification: f64 = 0.0;
        for (i, n) in self.nodes.iter().enumerate() {
            let kind = match n.kind {
                NodeKind::Edge(_) => "edge",
                NodeKind::Proxy(_) => "proxy",
                NodeKind::Service(_) => "service",
                NodeKind::TokenEndpoint(_) => "token-endpoint",
                NodeKind::PlatformApi(_) => "platform-api",
            };
            if kind == "service" {
                amplification = amplification.max(per_inv(m.requests_sent[i]));
            }
            components.push(ComponentSummary {
                component: n.name.clone(),
                kind: kind.into(),
                requests: m.requests_sent[i],
                retries: m.retries_sent[i],
                try_timeouts: m.try_timeouts[i],
                deadline_timeouts: m.deadline_timeouts[i],
                rate_limited: m.rate_limited[i],
                overload_rejections: m.overload_rejections[i],
                max_queue: m.max_server_queue[i],
                budget_refusals: m.budget_refusals[i],
                breaker_rejections: m.breaker_rejections[i],
                connections_opened: match &n.kind {
                    NodeKind::Proxy(p) => p.pool.as_ref().map(|x| x.opened).unwrap_or(0),
                    _ => 0,
                },
                keepalive_resets: match &n.kind {
                    NodeKind::Proxy(p) => p.pool.as_ref().map(|x| x.resets).unwrap_or(0),
                    _ => 0,
                },
                per_invocation: per_inv(m.requests_sent[i]),
            });
        }
        let client_attempts: u64 = self
            .workloads
            .iter()
            .map(|w| self.specs[w.spec as usize].target)
            .collect::<std::collections::BTreeSet<_>>()
            .iter()
            .map(|t| m.requests_sent[*t as usize])
            .sum();
        Summary {
            model: self.model.description.clone(),
            seed: self.seed,
            simulated_seconds: end.as_secs_f64(),
            events,
            invocations,
            invocations_unfinished: invocations - m.invocations_ended,
            success_rate: if m.invocations_ended == 0 { 0.0 } else { successes as f64 / m.invocations_ended as f64 },
            outcomes,
            latency: {
                // The run's latency is the sum of the orgs' (recorded once per invocation).
                let mut all = m.orgs.first().map(|o| o.latency.clone()).unwrap_or_else(super::metrics::histogram);
                for o in m.orgs.iter().skip(1) {
                    let _ = all.add(&o.latency);
                }
                LatencySummary::of(&all)
            },
            orgs,
            components,
            refresh_requests: m.refresh_requests,
            rotations: m.rotations,
            lost_rotations: m.lost_rotations,
            grace_reuses: m.grace_reuses,
            reuse_detections: m.reuse_detections,
            reuse_allowed: m.reuse_allowed,
            invalid_grants: m.invalid_grants,
            refresh_after_revocation: m.refresh_after_revocation,
            family_revocations: m.family_revocations,
            stranded_families: m.stranded_families,
            manual_reauths: m.manual_reauths,
            orgs_needing_manual_reauth: orgs_needing,
            sessions_needing_manual_reauth: sessions_needing,
            first_revocation_at_s: self.metrics.first_revocation_at.map(|t| t.as_secs_f64()),
            api_unauthorized: self.metrics.api_unauthorized,
            side_effects: self.metrics.side_effects,
            duplicate_side_effects: self.metrics.duplicate_side_effects,
            duplicates_by_hop: self.metrics.duplicates_by_hop.clone(),
            idempotency: {
                let (mut ev, mut ex) = (0, 0);
                for n in &self.nodes {
                    if let NodeKind::Service(sv) = &n.kind {
                        if let Some(st) = &sv.store {
                            ev += st.evictions;
                            ex += st.expirations;
                        }
                    }
                }
                super::metrics::IdempotencySummary {
                    replays: self.metrics.idempotent_replays,
                    conflicts: self.metrics.idempotency_conflicts,
                    mismatches: self.metrics.idempotency_mismatches,
                    store_full: self.metrics.idempotency_store_full,
                    evictions: ev,
                    expirations: ex,
                }
            },
            async_work: super::metrics::AsyncSummary {
                acknowledged: self.metrics.async_acks,
                completed: self.metrics.background_completed,
                failed: self.metrics.background_failed,
                retries: self.metrics.background_retries,
                lost: self.metrics.background_lost,
                rejected_queue_full: self.metrics.background_rejected,
                pending_at_end: self.jobs.values().filter(|j| j.background).count() as u64,
                completion_lag: LatencySummary::of(&self.metrics.completion_lag),
            },
            restarts: self.metrics.restarts,
            cascades: crate::explain::summarize(&self.causes, &self.model.orgs.iter().map(|o| o.name.clone()).collect::<Vec<_>>()),
            unavailable_refusals: self.metrics.unavailable_refusals,
            partition_drops: self.metrics.partition_drops,
            orphaned_replies: self.metrics.orphaned_replies,
            queue_full_rejections: self.metrics.queue_full_rejections,
            max_queue_len: self.metrics.max_queue_len,
            mean_queue_wait_ms: if self.metrics.queue_wait.len() == 0 { 0.0 } else { self.metrics.queue_wait.mean() / 1000.0 },
            prob_wait: if self.metrics.queue_wait.len() == 0 {
                0.0
            } else {
                1.0 - self.metrics.queue_wait.count_at(0) as f64 / self.metrics.queue_wait.len() as f64
            },
            refresh_wait_timeouts: self.metrics.refresh_wait_timeouts,
            refreshes_coalesced: self.metrics.refreshes_coalesced,
            encoding_rejections: self.metrics.encoding_rejections,
            cancelled_jobs: self.metrics.cancelled_jobs,
            client_attempts_per_invocation: per_inv(client_attempts),
            amplification,
            trace_hash,
            recovery: match (&self.goodput, self.slow_windows.iter().map(|w| (w.start, w.end)).reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))) {
                (Some(log), Some((start, stop))) => Some(super::timeseries::judge_recovery(log, start, stop, self.arrivals_end)),
                _ => None,
            },
        }
    }
}

impl World for Sim {
    type Event = Ev;
    type Error = RunError;

    fn handle(&mut self, ev: Ev, s: &mut Scheduler<Ev>) -> Result<(), RunError> {
        if s.now() >= self.ts_next {
            self.ts_roll(s.now());
            self.ts_next = SimTime((s.now().micros() / 1_000_000 + 1) * 1_000_000);
        }
        match ev {
            Ev::Arrival { workload, session } => self.workload_arrival(workload, session, s)?,
            Ev::Deliver { attempt } => self.deliver(attempt, s),
            Ev::Reply { attempt } => self.reply_arrived(attempt, s),
            Ev::TryTimeout { attempt } => self.try_timed_out(attempt, s),
            Ev::Deadline { exchange } => self.deadline_passed(exchange, s),
            Ev::Retry { exchange } => self.send_attempt(exchange, s),
            Ev::LocalReject { exchange } => self.local_reject(exchange, s),
            Ev::Connected { attempt, conn } => self.connected(attempt, conn, s),
            Ev::DelayedAnswer { attempt } => self.delayed_answer(attempt, s),
            Ev::ServerDone { attempt } => self.server_done(attempt, s),
            Ev::JobWorkDone { job } => self.job_work_done(job, s),
            Ev::RefreshWaitExpired { job } => self.job_refresh_wait_expired(job, s),
            Ev::ManualReauth { family } => self.manual_reauth(family, s),
            Ev::BackgroundRetry { job } => self.background_retry(job, s),
            Ev::ServiceRestart { node, down_for } => self.service_restart(node, down_for, s),
            Ev::ServiceUp { node } => self.service_up(node, s),
            Ev::Fault { index, starting } => self.fault_edge(index, starting, s),
            Ev::AdminRevoke { org } => self.admin_revoke(org, s),
        }
        if let Some(t) = &self.trace {
            if let Some(e) = t.over_limit(s.now()) {
                return Err(e.into());
            }
        }
        Ok(())
    }
}
