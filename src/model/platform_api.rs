//! The platform API the webhook calls with its access token: 401 for a revoked or expired token,
//! otherwise success after its latency.

use super::server::{ServerConfig, ServerState};
use super::world::{Ev, NodeKind, Sim};
use super::{AttemptKey, NodeId, Payload, Response};
use crate::engine::{Dist, Scheduler, SimDuration, SimTime};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformApiConfig {
    pub latency: Dist,
    /// Capacity and rate limit (the `genesys-platform-api` preset: 300 requests per minute per
    /// token, 429 with Retry-After; Genesys developer forum).
    #[serde(default)]
    pub server: ServerConfig,
}

pub struct PlatformApi {
    pub config: PlatformApiConfig,
    pub rng: usize,
    pub server: ServerState,
}

impl Sim {
    pub(crate) fn platform_api_latency(&mut self, node: NodeId, now: SimTime) -> SimDuration {
        let slow = self.fault_latency_factor(node, now);
        let NodeKind::PlatformApi(api) = &self.nodes[node as usize].kind else { unreachable!() };
        let d = api.config.latency.sample(&mut self.rngs[api.rng]);
        if slow != 1.0 {
            d.mul_f64(slow)
        } else {
            d
        }
    }

    pub(crate) fn platform_api_done(&mut self, _node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let Some(a) = self.attempts.get(attempt) else { return };
        let org = a.org;
        let ok = match a.payload {
            Payload::Api { token } => {
                let fam = &self.families[token.family as usize];
                fam.revoked_at.is_none() && fam.epoch == token.epoch && now < token.expires_at
            }
            _ => true,
        };
        if !ok {
            self.metrics.api_unauthorized += 1;
            self.metrics.orgs[org as usize].api_unauthorized += 1;
        }
        self.respond(attempt, Response::http(if ok { 200 } else { 401 }), s);
        self.server_release(_node, s);
    }
}
