//! Server-side rate limits: token buckets per client (org), per token family, or global,
//! answering 429 with Retry-After. The Genesys preset allows 300 requests per minute per
//! client-credentials token (Genesys developer forum: "300 requests per minute per token; 429
//! with Retry-After").

use crate::engine::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RateLimitKey {
    /// One bucket for everyone.
    Global,
    /// One bucket per org (each org has its own OAuth client).
    Org,
    /// One bucket per token family (per access token's grant).
    Token,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Requests allowed per `period`.
    pub requests: u32,
    pub period: SimDuration,
    /// Bucket size (default: `requests`, i.e. a whole period's worth at once).
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default = "default_key")]
    pub per: RateLimitKey,
    #[serde(default = "s429")]
    pub status: u16,
}

fn default_key() -> RateLimitKey {
    RateLimitKey::Org
}
fn s429() -> u16 {
    429
}

/// A token bucket in integer time: `micros_per_token` of refill per token.
#[derive(Clone, Debug)]
pub struct Bucket {
    tokens_micro: u64,
    capacity_micro: u64,
    last: SimTime,
}

pub struct RateLimiter {
    pub config: RateLimitConfig,
    micros_per_token: u64,
    buckets: Vec<Option<Bucket>>,
}

/// Fixed-point scale: one token = 1e6 units so refill stays in integers.
const UNIT: u64 = 1_000_000;

impl RateLimiter {
    pub fn new(config: RateLimitConfig) -> Self {
        let micros_per_token = (config.period.micros() / config.requests.max(1) as u64).max(1);
        RateLimiter { config, micros_per_token, buckets: Vec::new() }
    }

    /// Takes a token for `key` at `now`, or says how long until one is available.
    pub fn admit(&mut self, key: usize, now: SimTime) -> Result<(), SimDuration> {
        if self.buckets.len() <= key {
            self.buckets.resize(key + 1, None);
        }
        let cap = self.config.burst.unwrap_or(self.config.requests) as u64 * UNIT;
        let b = self.buckets[key].get_or_insert(Bucket { tokens_micro: cap, capacity_micro: cap, last: now });
        let elapsed = now.since(b.last).micros();
        b.last = now;
        // elapsed microseconds add elapsed / micros_per_token tokens.
        let refill = (elapsed as u128 * UNIT as u128 / self.micros_per_token as u128).min(u64::MAX as u128) as u64;
        b.tokens_micro = b.tokens_micro.saturating_add(refill).min(b.capacity_micro);
        if b.tokens_micro >= UNIT {
            b.tokens_micro -= UNIT;
            Ok(())
        } else {
            let missing = UNIT - b.tokens_micro;
            let wait_us = (missing as u128 * self.micros_per_token as u128).div_ceil(UNIT as u128) as u64;
            // Retry-After is sent in whole seconds (RFC 9110 s10.2.3), rounded up.
            let secs = wait_us.div_ceil(1_000_000).max(1);
            Err(SimDuration::from_secs(secs))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_hundred_per_minute() {
        let mut rl =
            RateLimiter::new(RateLimitConfig { requests: 300, period: SimDuration::from_secs(60), burst: None, per: RateLimitKey::Token, status: 429 });
        let t0 = SimTime(0);
        let ok = (0..400).filter(|_| rl.admit(0, t0).is_ok()).count();
        assert_eq!(ok, 300, "a full bucket holds one minute's worth");
        let wait = rl.admit(0, t0).unwrap_err();
        assert_eq!(wait, SimDuration::from_secs(1));
        // After 1 s, 5 more tokens (300/min).
        let t1 = SimTime(1_000_000);
        let ok = (0..10).filter(|_| rl.admit(0, t1).is_ok()).count();
        assert_eq!(ok, 5);
        // Other keys have their own bucket.
        assert!(rl.admit(1, t1).is_ok());
    }
}
