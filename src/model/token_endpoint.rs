//! The identity service's token endpoint: refresh-token rotation, reuse detection, a grace
//! window, cross-org sequential validation, and strictness about the request body.
//!
//! A refresh that completes rotates the token even when the caller has already given up: the
//! endpoint never learns that nobody is waiting (RFC 9700 s4.14.2 describes rotation and what the
//! server does on reuse).

use super::server::{ServerConfig, ServerState};
use super::trace::TraceKind;
use super::world::{Ev, NodeKind, Sim};
use super::{AccessToken, AttemptKey, Body, Encoding, NodeId, Payload, RefreshToken, Response};
use crate::engine::{Dist, Scheduler, SimDuration, SimTime};
use serde::{Deserialize, Serialize};

/// What the server does when a rotated (older) refresh token is presented again.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReuseDetection {
    /// Old refresh tokens stay valid (Microsoft Entra: "rotates, but old refresh tokens stay
    /// valid", Microsoft identity platform docs).
    None,
    /// The old token is refused with invalid_grant; the family survives.
    Reject,
    /// The whole token family is revoked: the active refresh token and its access tokens
    /// (RFC 9700 s4.14.2; Okta and Auth0 refresh-token rotation docs).
    RevokeFamily,
}

/// One step of cross-org sequential validation, run in order for the orgs it applies to.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationStep {
    pub name: String,
    pub latency: Dist,
    /// Orgs whose refreshes run this step; empty: every org.
    #[serde(default)]
    pub orgs: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEndpointConfig {
    /// Processing time of a refresh, before validation steps.
    pub latency: Dist,
    #[serde(default)]
    pub validation: Vec<ValidationStep>,
    /// Issue a new refresh token on each refresh. Default true (RFC 9700 s4.14.2 recommends
    /// rotation for public clients; presets set vendor behaviour).
    #[serde(default = "yes")]
    pub rotation: bool,
    #[serde(default = "default_reuse")]
    pub reuse_detection: ReuseDetection,
    /// Reuse of the previous refresh token within this long after its rotation returns the
    /// current pair instead of being treated as reuse (Okta "leeway", default 30 s in Okta's
    /// refresh-token rotation guide; Auth0 "reuse interval"; Cognito grace period 0-60 s).
    #[serde(default)]
    pub grace: SimDuration,
    /// Status of an invalid_grant error: 400 (RFC 6749 s5.2), or 403 as Auth0 returns.
    #[serde(default = "s400")]
    pub invalid_grant_status: u16,
    /// Lifetime of an issued access token. Default 300 s, Keycloak's default access token
    /// lifespan (Keycloak server admin docs).
    #[serde(default = "default_ttl")]
    pub access_token_ttl: SimDuration,
    /// Refuse a JSON body with 400 invalid_request (RFC 6749 s6 requires
    /// application/x-www-form-urlencoded).
    #[serde(default = "yes")]
    pub strict_content_type: bool,
    /// Capacity and rate limit.
    #[serde(default)]
    pub server: ServerConfig,
}

fn yes() -> bool {
    true
}
fn default_reuse() -> ReuseDetection {
    ReuseDetection::RevokeFamily
}
fn s400() -> u16 {
    400
}
fn default_ttl() -> SimDuration {
    SimDuration::from_secs(300)
}

pub struct TokenEndpoint {
    pub config: TokenEndpointConfig,
    pub rng: usize,
    /// For each validation step, which orgs run it (by org index).
    pub step_applies: Vec<Vec<bool>>,
    pub server: ServerState,
}

/// The authorization server's record of one grant: its current refresh-token generation.
pub struct TokenFamily {
    pub org: u16,
    pub session: u32,
    pub endpoint: NodeId,
    /// Bumped by each manual re-authorization: tokens of an older epoch are dead.
    pub epoch: u32,
    pub generation: u32,
    pub rotated_at: Option<SimTime>,
    pub revoked_at: Option<SimTime>,
    /// The attempt whose refresh made the current generation (for the causal graph).
    pub rotated_by: Option<AttemptKey>,
    /// The last rotation nobody stored: (generation it produced, cause node).
    pub lost_rotation: Option<(u32, u32)>,
    /// Cause node of the current revocation, and of its aggregated 401s.
    pub revoked_node: u32,
    pub unauthorized_node: u32,
    /// Not revoked, but the cache's refresh token is refused (reuse detection `reject` after a
    /// lost rotation): stuck until a person re-authorizes.
    pub stranded_at: Option<SimTime>,
}

impl Sim {
    fn endpoint(&self, node: NodeId) -> &TokenEndpoint {
        match &self.nodes[node as usize].kind {
            NodeKind::TokenEndpoint(t) => t,
            _ => unreachable!("not a token endpoint"),
        }
    }

    /// Processing time of one refresh: the endpoint's latency plus every validation step that
    /// applies to the org, in order, slowed by any active fault window.
    pub(crate) fn token_endpoint_latency(&mut self, node: NodeId, attempt: AttemptKey, now: SimTime) -> SimDuration {
        let org = self.attempts[attempt].org as usize;
        let slow = self.fault_latency_factor(node, now);
        let NodeKind::TokenEndpoint(te) = &self.nodes[node as usize].kind else { unreachable!() };
        let rng = &mut self.rngs[te.rng];
        let mut d = te.config.latency.sample(rng);
        for (step, applies) in te.config.validation.iter().zip(&te.step_applies) {
            if applies[org] {
                d = d + step.latency.sample(rng);
            }
        }
        if slow != 1.0 {
            d = d.mul_f64(slow);
        }
        d
    }

    /// The refresh has been processed: rotate, detect reuse, answer.
    pub(crate) fn token_endpoint_done(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        self.token_endpoint_process(node, attempt, s);
        self.server_release(node, s);
    }

    fn token_endpoint_process(&mut self, node: NodeId, attempt: AttemptKey, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let Some(a) = self.attempts.get(attempt) else { return };
        let Payload::Refresh { token, encoding } = a.payload else {
            self.respond(attempt, Response::http(400), s);
            return;
        };
        self.metrics.refresh_requests += 1;
        let cfg = &self.endpoint(node).config;
        let (rotation, reuse, grace, ig_status, ttl, strict) =
            (cfg.rotation, cfg.reuse_detection, cfg.grace, cfg.invalid_grant_status, cfg.access_token_ttl, cfg.strict_content_type);
        if strict && encoding == Encoding::Json {
            self.metrics.encoding_rejections += 1;
            self.respond(attempt, Response { status: super::Status::Http(400), body: Body::InvalidRequest, retry_after: None }, s);
            return;
        }
        let invalid = Response { status: super::Status::Http(ig_status), body: Body::InvalidGrant { presented: token }, retry_after: None };
        let fam = &mut self.families[token.family as usize];
        if fam.revoked_at.is_some() || token.epoch != fam.epoch {
            self.metrics.invalid_grants += 1;
            self.metrics.refresh_after_revocation += 1;
            self.respond(attempt, invalid, s);
            return;
        }
        let issue = |fam: &TokenFamily| Body::Tokens {
            access: AccessToken { family: token.family, epoch: fam.epoch, generation: fam.generation, expires_at: now + ttl },
            refresh: RefreshToken { family: token.family, epoch: fam.epoch, generation: fam.generation },
        };
        let current = token.generation == fam.generation;
        let in_grace = !current && token.generation + 1 == fam.generation && fam.rotated_at.is_some_and(|r| now.since(r) <= grace) && !grace.is_zero();
        let body = if current || reuse == ReuseDetection::None {
            if rotation {
                fam.generation += 1;
                fam.rotated_at = Some(now);
                fam.rotated_by = Some(attempt);
                self.metrics.rotations += 1;
            }
            if !current {
                self.metrics.reuse_allowed += 1;
            }
            let b = issue(fam);
            if rotation {
                self.trace_attempt(now, TraceKind::Rotated, attempt, "");
            }
            b
        } else if in_grace {
            self.metrics.grace_reuses += 1;
            let b = issue(fam);
            self.trace_attempt(now, TraceKind::GraceReuse, attempt, "previous refresh token inside the grace window: current pair returned");
            b
        } else {
            self.metrics.invalid_grants += 1;
            self.metrics.reuse_detections += 1;
            self.trace_attempt(now, TraceKind::ReuseDetected, attempt, "");
            let reuse_node = self.record_reuse(attempt, token, now);
            if reuse == ReuseDetection::RevokeFamily {
                let family = token.family;
                self.revoke_family(family, reuse_node, s);
            }
            self.respond(attempt, invalid, s);
            return;
        };
        self.respond(attempt, Response { status: super::Status::Http(200), body, retry_after: None }, s);
    }

    /// The cache of a live family holds a refresh token the server refuses: schedule the person
    /// who will re-authorize, and count the org as needing manual re-authorization.
    pub(crate) fn strand_family(&mut self, family: u32, now: SimTime, s: &mut Scheduler<Ev>) {
        let fam = &mut self.families[family as usize];
        if fam.revoked_at.is_some() || fam.stranded_at.is_some() {
            return;
        }
        fam.stranded_at = Some(now);
        let (org, session, endpoint) = (fam.org, fam.session, fam.endpoint);
        self.metrics.stranded_families += 1;
        self.metrics.orgs[org as usize].stranded += 1;
        let detail = format!(
            "org {}'s cache holds a refresh token the server refuses (reuse detection `reject`): no refresh can succeed until a person re-authorizes",
            self.model.orgs[org as usize].name
        );
        let parent = self.families[family as usize].lost_rotation.map(|x| x.1).unwrap_or(super::causes::NONE);
        let node = self.cause(super::causes::CauseKind::FamilyRevoked, now, Some(endpoint), Some(org), Some(session), None, detail, &[parent]);
        let fam = &mut self.families[family as usize];
        fam.revoked_node = node;
        fam.unauthorized_node = super::causes::NONE;
        let delay = self.reauth_delay(org);
        s.after(delay, Ev::ManualReauth { family });
    }

    /// Revokes a family (reuse detected, or an admin revoked the authorization) and calls the
    /// person who will re-authorize.
    pub(crate) fn revoke_family(&mut self, family: u32, cause: u32, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let fam = &mut self.families[family as usize];
        if fam.revoked_at.is_some() {
            return;
        }
        fam.revoked_at = Some(now);
        let (org, session, endpoint) = (fam.org, fam.session, fam.endpoint);
        self.metrics.first_revocation_at.get_or_insert(now);
        let detail = format!("token family of org {} revoked: refresh and access tokens dead until a person re-authorizes", self.model.orgs[org as usize].name);
        let node = self.cause(super::causes::CauseKind::FamilyRevoked, now, Some(endpoint), Some(org), Some(session), None, detail, &[cause]);
        let fam = &mut self.families[family as usize];
        fam.revoked_node = node;
        fam.unauthorized_node = super::causes::NONE;
        self.metrics.family_revocations += 1;
        self.metrics.orgs[org as usize].revocations += 1;
        self.trace_raw(
            now,
            TraceKind::FamilyRevoked,
            endpoint,
            org,
            session,
            None,
            "token family revoked: refresh and access tokens dead until manual re-authorization",
        );
        let delay = self.reauth_delay(org);
        s.after(delay, Ev::ManualReauth { family });
    }
}
