//! The service's token cache: one per org shared by all workers (the usual webhook-service case),
//! or one per session. It holds the access token and the refresh token; a refresh reads the
//! refresh token from here at the moment it is sent.
//!
//! Refresh modes:
//! - `concurrent`: every request that finds the access token expired refreshes on its own. Two
//!   of them present the same refresh token: with rotation and reuse detection, that is a reuse.
//! - `single-flight`: one refresh in flight per cache; the others wait for it, at most `max_wait`
//!   (the Genesys JS SDK: one thread refreshes, the others wait, at most 10 s).

use super::service::Stage;
use super::trace::TraceKind;
use super::world::{Ev, Sim};
use super::{AccessToken, Body, Encoding, JobKey, RefreshToken, Response};
use crate::engine::{Scheduler, SimDuration, SimTime};
use serde::{Deserialize, Serialize};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CacheScope {
    Org,
    Session,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefreshMode {
    Concurrent,
    SingleFlight,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenCacheConfig {
    pub scope: CacheScope,
    pub refresh: RefreshMode,
    /// Refresh this long before the access token expires (0: only once expired).
    pub refresh_ahead: SimDuration,
    /// Longest a request waits for another's refresh in single-flight mode. Default 10 s, as the
    /// Genesys JS SDK (README: "other threads wait, max 10 seconds").
    pub max_wait: SimDuration,
    /// Body encoding of the refresh request. Default form, as RFC 6749 s6 requires.
    pub encoding: Encoding,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        TokenCacheConfig {
            scope: CacheScope::Org,
            refresh: RefreshMode::Concurrent,
            refresh_ahead: SimDuration::ZERO,
            max_wait: SimDuration::from_secs(10),
            encoding: Encoding::Form,
        }
    }
}

pub struct TokenCache {
    /// The token family this cache holds (same index as the cache).
    pub family: u32,
    pub org: u16,
    pub session: u32,
    pub access: AccessToken,
    pub refresh: RefreshToken,
    pub encoding: Encoding,
    pub mode: RefreshMode,
    pub refresh_ahead: SimDuration,
    pub max_wait: SimDuration,
    pub token_spec: u32,
    /// Single-flight: a refresh is in flight.
    pub in_flight: bool,
    pub waiters: Vec<JobKey>,
    /// invalid_grant was returned for the current refresh token: only a person can fix this.
    pub reauth_required: bool,
}

pub enum Acquire {
    Ready(AccessToken),
    Pending,
    Unauthorized,
}

impl Sim {
    pub(crate) fn cache_acquire(&mut self, cache: u32, job: JobKey, s: &mut Scheduler<Ev>) -> Acquire {
        let now = s.now();
        let c = &mut self.caches[cache as usize];
        if c.reauth_required {
            return Acquire::Unauthorized;
        }
        if now + c.refresh_ahead < c.access.expires_at {
            return Acquire::Ready(c.access);
        }
        match c.mode {
            RefreshMode::Concurrent => {
                self.job_start_refresh(job, cache, s);
            }
            RefreshMode::SingleFlight => {
                let start = !c.in_flight;
                c.in_flight = true;
                c.waiters.push(job);
                let wait = c.max_wait;
                self.jobs[job].stage = Stage::WaitingForRefresh;
                s.after(wait, Ev::RefreshWaitExpired { job });
                if start {
                    let (spec, org, session) = (c.token_spec, c.org, c.session);
                    let inv = self.jobs[job].invocation;
                    self.start_exchange(spec, super::call::Owner::Cache(cache), inv, org, session, super::call::PayloadTemplate::Refresh { cache }, s);
                } else {
                    self.metrics.refreshes_coalesced += 1;
                }
            }
        }
        Acquire::Pending
    }

    /// Stores what a refresh returned. A newer pair replaces an older one, never the reverse (a
    /// slow concurrent refresh must not overwrite a fresher token).
    pub(crate) fn cache_store(&mut self, cache: u32, response: Response, s: &mut Scheduler<Ev>) {
        let now = s.now();
        let c = &mut self.caches[cache as usize];
        match response.body {
            Body::Tokens { access, refresh } if response.status.is_success() => {
                if (refresh.epoch, refresh.generation) >= (c.refresh.epoch, c.refresh.generation) {
                    c.refresh = refresh;
                    c.access = access;
                }
            }
            Body::InvalidGrant { presented } if presented == c.refresh && !c.reauth_required => {
                c.reauth_required = true;
                let (org, session, family) = (c.org, c.session, c.family);
                self.trace_raw(
                    now,
                    TraceKind::ReauthRequired,
                    u16::MAX,
                    org,
                    session,
                    None,
                    "invalid_grant for the cached refresh token; waiting for manual re-authorization",
                );
                // Without a revocation (reuse detection `reject`) the family lives on at the
                // server, but the cache holds a token the server refuses: the org is just as
                // stuck, and only a person can fix it.
                self.strand_family(family, now, s);
            }
            _ => {}
        }
    }

    /// The single-flight refresh finished: store it and wake every waiter.
    pub(crate) fn cache_refresh_done(&mut self, cache: u32, response: Response, s: &mut Scheduler<Ev>) {
        self.cache_store(cache, response, s);
        let c = &mut self.caches[cache as usize];
        c.in_flight = false;
        let waiters = std::mem::take(&mut c.waiters);
        for job in waiters {
            if let Some(j) = self.jobs.get(job) {
                if j.stage == Stage::WaitingForRefresh {
                    self.job_after_refresh(job, response, s);
                }
            }
        }
    }

    /// The platform API said 401 for the cached access token: drop it so the next request
    /// refreshes.
    pub(crate) fn cache_access_rejected(&mut self, cache: u32, _s: &mut Scheduler<Ev>) {
        let c = &mut self.caches[cache as usize];
        c.access.expires_at = SimTime::ZERO;
    }
}
