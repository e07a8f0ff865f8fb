//! The model file's shape: what a scenario TOML deserializes into. Component settings live next to
//! their component (`edge::EdgeConfig`, `service::ServiceConfig`, ...); this file holds the root,
//! orgs, outbound calls and the component enum.

use super::edge::EdgeConfig;
use super::fault::FaultConfig;
use super::platform_api::PlatformApiConfig;
use super::proxy::ProxyConfig;
use super::reauth::ReauthConfig;
use super::resilience::{CircuitBreakerConfig, RetryBudgetConfig};
use super::retry::RetryPolicy;
use super::service::ServiceConfig;
use super::token_endpoint::TokenEndpointConfig;
use super::workload::WorkloadConfig;
use crate::engine::{Dist, Limits, SimDuration};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A whole scenario.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Model {
    /// Free text shown in reports.
    #[serde(default)]
    pub description: String,
    pub simulation: SimulationConfig,
    #[serde(default)]
    pub limits: Limits,
    /// The orgs (tenants) whose calls go through the path.
    #[serde(rename = "org")]
    pub orgs: Vec<OrgConfig>,
    /// The components, by name.
    pub components: BTreeMap<String, ComponentConfig>,
    /// Who calls, and how often.
    pub workload: Vec<WorkloadConfig>,
    /// Fault windows.
    #[serde(default, rename = "fault")]
    pub faults: Vec<FaultConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationConfig {
    /// Arrivals stop after this much simulated time.
    pub duration: SimDuration,
    /// After `duration`, in-flight work may finish for this long before the run ends (default
    /// 120 s: longer than any default deadline here, so every invocation started gets to end).
    #[serde(default = "default_drain")]
    pub drain: SimDuration,
    /// Master seed; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_drain() -> SimDuration {
    SimDuration::from_secs(120)
}
fn default_seed() -> u64 {
    1
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgConfig {
    pub name: String,
    /// Sessions (users, conversations) of this org. Open workloads spread their invocations
    /// uniformly over them; with a per-session token cache each has its own token family.
    #[serde(default = "one")]
    pub sessions: u32,
    /// When the access token held at the start of the run expires. Default: uniform over the
    /// token endpoint's access-token lifetime, so that orgs do not all refresh at once.
    #[serde(default)]
    pub first_expiry: Option<SimDuration>,
    /// How long a person takes to notice a revoked authorization and re-authorize.
    #[serde(default)]
    pub manual_reauth: ReauthConfig,
}

fn one() -> u32 {
    1
}

/// A component of the topology, by kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ComponentConfig {
    Edge(EdgeConfig),
    Proxy(ProxyConfig),
    Service(ServiceConfig),
    TokenEndpoint(TokenEndpointConfig),
    PlatformApi(PlatformApiConfig),
}

impl ComponentConfig {
    pub fn kind_name(&self) -> &'static str {
        match self {
            ComponentConfig::Edge(_) => "edge",
            ComponentConfig::Proxy(_) => "proxy",
            ComponentConfig::Service(_) => "service",
            ComponentConfig::TokenEndpoint(_) => "token-endpoint",
            ComponentConfig::PlatformApi(_) => "platform-api",
        }
    }
    /// The outbound calls this component makes, with their field names.
    pub fn upstreams(&self) -> Vec<(&'static str, &UpstreamConfig)> {
        match self {
            ComponentConfig::Edge(e) => vec![("upstream", &e.upstream)],
            ComponentConfig::Proxy(p) => vec![("upstream", &p.upstream)],
            ComponentConfig::Service(s) => {
                let mut v = vec![];
                if let Some(t) = &s.token_endpoint {
                    v.push(("token_endpoint", t));
                }
                if let Some(a) = &s.platform_api {
                    v.push(("platform_api", a));
                }
                v
            }
            ComponentConfig::TokenEndpoint(_) | ComponentConfig::PlatformApi(_) => vec![],
        }
    }
}

impl Model {
    /// The component of `kind` that a call to `name` reaches, following proxies (at most 64
    /// hops; the call graph is checked for cycles separately).
    pub fn reached_through_proxies(&self, name: &str, kind: &str) -> Option<&str> {
        let (mut cur, _) = self.components.get_key_value(name)?;
        for _ in 0..64 {
            match self.components.get(cur.as_str()) {
                Some(c) if c.kind_name() == kind => return Some(cur.as_str()),
                Some(ComponentConfig::Proxy(p)) => cur = self.components.get_key_value(p.upstream.target.as_str())?.0,
                _ => return None,
            }
        }
        None
    }
}

/// An outbound call from a component to the next one.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Name of the component called.
    pub target: String,
    /// One-way network latency of the link.
    #[serde(default = "zero_latency")]
    pub latency: Dist,
    /// Per-try timeout. None: wait for ever (the deadline, if any, still applies).
    #[serde(default)]
    pub timeout: Option<SimDuration>,
    /// Overall deadline including all retries (Envoy's route timeout).
    #[serde(default)]
    pub deadline: Option<SimDuration>,
    #[serde(default)]
    pub retry: RetryPolicy,
    /// Caps retries (token bucket or ratio); none by default.
    #[serde(default)]
    pub retry_budget: Option<RetryBudgetConfig>,
    /// Refuses attempts while the target keeps failing; none by default.
    #[serde(default)]
    pub circuit_breaker: Option<CircuitBreakerConfig>,
}

pub fn zero_latency() -> Dist {
    Dist::constant(SimDuration::ZERO)
}
