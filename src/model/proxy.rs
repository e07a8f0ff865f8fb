//! A proxy hop (AWS ALB, Azure API Management, Envoy, NGINX-like): its own timeout, its own
//! retries, a network latency to the next hop, and a status mapping. Upstream statuses pass
//! through; a timeout becomes 504 and a reset 502 (AWS ALB docs: "HTTP 502: Bad Gateway" when the
//! target closes the connection, "HTTP 504: Gateway Timeout" when it does not answer within the
//! idle timeout).

use super::config::UpstreamConfig;
use super::edge::{s502, s504};
use super::world::Sim;
use super::{NodeId, Payload, Response, Status};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    pub upstream: UpstreamConfig,
    #[serde(default = "s504")]
    pub timeout_status: u16,
    #[serde(default = "s502")]
    pub reset_status: u16,
    #[serde(default = "s502")]
    pub malformed_status: u16,
    /// Stop forwarding (and close the upstream connection) when the caller disconnects.
    #[serde(default)]
    pub cancel_on_disconnect: bool,
    /// Status with which the proxy rejects a refresh whose body is JSON, when it inspects bodies
    /// (e.g. a WAF rule or a strict API Management policy: 415, or 502 as the seed thread
    /// describes). None: bodies pass through.
    #[serde(default)]
    pub reject_json_status: Option<u16>,
    /// A keep-alive connection pool to the upstream (none: every request gets a connection at
    /// once, and keep-alive races are not modelled).
    #[serde(default)]
    pub keep_alive: Option<super::connection_pool::KeepAliveConfig>,
}

impl ProxyConfig {
    pub fn map(&self, status: Status) -> Status {
        match status {
            Status::TimedOut => Status::Http(self.timeout_status),
            Status::Reset => Status::Http(self.reset_status),
            Status::Malformed => Status::Http(self.malformed_status),
            s => s,
        }
    }
}

pub struct Proxy {
    pub config: ProxyConfig,
    pub spec: u32,
    pub pool: Option<super::connection_pool::ConnectionPool>,
}

impl Sim {
    /// A strict proxy refuses a JSON refresh body before forwarding it.
    pub(crate) fn proxy_rejects(&mut self, node: NodeId, payload: Payload) -> Option<Response> {
        if let super::world::NodeKind::Proxy(p) = &self.nodes[node as usize].kind {
            if let (Some(code), Payload::Refresh { encoding: super::Encoding::Json, .. }) = (p.config.reject_json_status, payload) {
                self.metrics.encoding_rejections += 1;
                return Some(Response::http(code));
            }
        }
        None
    }
}
