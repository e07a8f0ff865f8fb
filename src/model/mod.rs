//! The components of the path an HTTP call takes, one file each, and the world that wires them.
//!
//! - `workload`: who calls (open Poisson arrivals with rate steps, bursts, closed-loop sessions).
//! - `edge`: the platform's Data Action executor, one deadline per execution.
//! - `proxy`: an ALB / API Management / Envoy / NGINX-like hop.
//! - `service`: the customer's webhook target: c workers, a queue of capacity K.
//! - `token_cache`: the service's cache of access and refresh tokens, per org or per session.
//! - `token_endpoint`: the identity service: rotation, reuse detection, grace window.
//! - `platform_api`: the API the service calls with the access token.
//! - `reauth`: the person who re-authorizes an org after its token family is revoked.
//! - `call`: what every caller does: attempts, per-try timeouts, deadlines, retries. **What
//!   happens when a hop times out is decided in `call.rs`, and only there.**
//! - `retry`: retry policies and backoff strategies.
//! - `world`: the state of one run and the event dispatch.
//! - `metrics` and `trace`: what a run reports.

pub mod call;
pub mod causes;
pub mod config;
pub mod connection_pool;
pub mod edge;
pub mod fault;
pub mod idempotency;
pub mod metrics;
pub mod platform_api;
pub mod proxy;
pub mod rate_limit;
pub mod reauth;
pub mod resilience;
pub mod retry;
pub mod server;
pub mod service;
pub mod timeseries;
pub mod token_cache;
pub mod token_endpoint;
pub mod trace;
pub mod workload;
pub mod world;

use crate::engine::{SimDuration, SimTime};

slotmap::new_key_type! {
    /// One logical call from a caller to a callee, possibly made of several attempts.
    pub struct ExchangeKey;
    /// One attempt on the wire.
    pub struct AttemptKey;
    /// One invocation from the workload (a Data Action execution).
    pub struct InvocationKey;
    /// One unit of work inside a service (one received webhook attempt).
    pub struct JobKey;
}

/// Index of a component in the topology.
pub type NodeId = u16;

/// A refresh token: which family, which authorization epoch (bumped by each manual
/// re-authorization) and which rotation generation.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    pub family: u32,
    pub epoch: u32,
    pub generation: u32,
}

/// An access token: valid until `expires_at` unless its family is revoked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    pub family: u32,
    pub epoch: u32,
    pub generation: u32,
    pub expires_at: SimTime,
}

/// How a request's body is encoded. RFC 6749 s6 requires `application/x-www-form-urlencoded`
/// for the refresh request.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Form,
    Json,
}

/// What a request asks for.
#[derive(Copy, Clone, Debug)]
pub enum Payload {
    /// The Data Action's call to the webhook, for one invocation. `key`: the Idempotency-Key
    /// header, if one is sent (the invocation's id); `fingerprint`: identifies the body, so a
    /// retry that changes the body under the same key can be told apart.
    Webhook { key: Option<u64>, fingerprint: u32 },
    /// `grant_type=refresh_token` with the token read from the cache when the attempt was sent.
    Refresh { token: RefreshToken, encoding: Encoding },
    /// A platform API call with an access token.
    Api { token: AccessToken },
}

/// What a caller sees when an attempt ends.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Http(u16),
    /// No response before the caller's timeout or deadline.
    TimedOut,
    /// The connection was reset or closed under the request.
    Reset,
    /// Something came back that is not a valid HTTP response.
    Malformed,
}

impl Status {
    pub fn is_success(self) -> bool {
        matches!(self, Status::Http(s) if (200..300).contains(&s))
    }
    /// A stable label for reports: `"200"`, `"timeout"`, `"reset"`, `"malformed"`.
    pub fn label(self) -> String {
        match self {
            Status::Http(s) => s.to_string(),
            Status::TimedOut => "timeout".into(),
            Status::Reset => "reset".into(),
            Status::Malformed => "malformed".into(),
        }
    }
}

/// The body of a response, as far as the models care.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Body {
    Empty,
    /// A successful refresh: the new (or, inside a grace window, the current) token pair.
    Tokens {
        access: AccessToken,
        refresh: RefreshToken,
    },
    /// OAuth `invalid_grant`: the refresh token presented is unknown, reused or revoked.
    InvalidGrant {
        presented: RefreshToken,
    },
    /// OAuth `invalid_request` (e.g. a JSON body at a strict endpoint).
    InvalidRequest,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub body: Body,
    /// Retry-After, when the responder sent one (429, 503).
    pub retry_after: Option<SimDuration>,
}

impl Response {
    pub fn status(status: Status) -> Self {
        Response { status, body: Body::Empty, retry_after: None }
    }
    pub fn http(code: u16) -> Self {
        Self::status(Status::Http(code))
    }
}
