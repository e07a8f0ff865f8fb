//! The service's idempotency store, after the IETF draft "The Idempotency-Key HTTP Header Field"
//! (draft-ietf-httpapi-idempotency-key-header) and Stripe's API:
//! - the key is recorded when execution begins (Stripe: "the first result is stored once
//!   execution starts");
//! - a retry while the original is still executing gets 409 Conflict (draft s2.7);
//! - the same key with a different payload gets 422 Unprocessable Content (draft s2.7);
//! - a completed key replays the stored response, marked as replayed;
//! - keys expire after `ttl` (Stripe keeps them at least 24 h: the default);
//! - the store holds at most `capacity` keys; when full it evicts the oldest key
//!   (`evict-oldest`) or refuses new executions with 503 (`reject`).

use crate::engine::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Eviction {
    EvictOldest,
    Reject,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    pub enabled: bool,
    /// How long a key is remembered after execution begins. Default 24 h (Stripe).
    pub ttl: SimDuration,
    pub capacity: u32,
    pub eviction: Eviction,
}

impl Default for IdempotencyConfig {
    fn default() -> Self {
        IdempotencyConfig { enabled: false, ttl: SimDuration::from_secs(24 * 3600), capacity: 1_000_000, eviction: Eviction::EvictOldest }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KeyState {
    InFlight,
    Completed(u16),
}

#[derive(Copy, Clone, Debug)]
struct Entry {
    state: KeyState,
    fingerprint: u32,
    expires_at: SimTime,
}

/// What the store says about a request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// First time (or the key expired / was evicted): execute.
    Execute,
    /// The original is still executing: 409.
    Conflict,
    /// Same key, different payload: 422.
    Mismatch,
    /// Completed before: replay this status.
    Replay(u16),
    /// The store is full and refuses new keys: 503.
    Full,
}

pub struct IdempotencyStore {
    pub config: IdempotencyConfig,
    entries: BTreeMap<u64, Entry>,
    /// Keys in insertion order (= expiry order, since the TTL is fixed).
    order: VecDeque<(u64, SimTime)>,
    pub evictions: u64,
    pub expirations: u64,
}

impl IdempotencyStore {
    pub fn new(config: IdempotencyConfig) -> Self {
        IdempotencyStore { config, entries: BTreeMap::new(), order: VecDeque::new(), evictions: 0, expirations: 0 }
    }

    fn expire(&mut self, now: SimTime) {
        while let Some(&(key, exp)) = self.order.front() {
            if exp > now {
                break;
            }
            self.order.pop_front();
            if self.entries.get(&key).is_some_and(|e| e.expires_at == exp) {
                self.entries.remove(&key);
                self.expirations += 1;
            }
        }
    }

    /// Looks a key up when execution would begin; records it when the verdict is Execute.
    pub fn begin(&mut self, key: u64, fingerprint: u32, now: SimTime) -> Verdict {
        self.expire(now);
        if let Some(e) = self.entries.get(&key) {
            if e.fingerprint != fingerprint {
                return Verdict::Mismatch;
            }
            return match e.state {
                KeyState::InFlight => Verdict::Conflict,
                KeyState::Completed(s) => Verdict::Replay(s),
            };
        }
        if self.entries.len() as u32 >= self.config.capacity {
            match self.config.eviction {
                Eviction::Reject => return Verdict::Full,
                Eviction::EvictOldest => {
                    while self.entries.len() as u32 >= self.config.capacity {
                        let Some((old, exp)) = self.order.pop_front() else { break };
                        if self.entries.get(&old).is_some_and(|e| e.expires_at == exp) {
                            self.entries.remove(&old);
                            self.evictions += 1;
                        }
                    }
                }
            }
        }
        let expires_at = now + self.config.ttl;
        self.entries.insert(key, Entry { state: KeyState::InFlight, fingerprint, expires_at });
        self.order.push_back((key, expires_at));
        Verdict::Execute
    }

    /// Stores the result of an execution.
    pub fn complete(&mut self, key: u64, status: u16) {
        if let Some(e) = self.entries.get_mut(&key) {
            e.state = KeyState::Completed(status);
        }
    }

    /// Forgets a key whose execution was abandoned (the caller disconnected and the service
    /// dropped the work), so that a retry can execute.
    pub fn abandon(&mut self, key: u64) {
        if self.entries.get(&key).is_some_and(|e| e.state == KeyState::InFlight) {
            self.entries.remove(&key);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(capacity: u32, eviction: Eviction) -> IdempotencyStore {
        IdempotencyStore::new(IdempotencyConfig { enabled: true, ttl: SimDuration::from_secs(10), capacity, eviction })
    }

    #[test]
    fn conflict_mismatch_replay_expiry() {
        let mut s = store(100, Eviction::EvictOldest);
        let t = |x: u64| SimTime(x * 1_000_000);
        assert_eq!(s.begin(1, 0, t(0)), Verdict::Execute);
        assert_eq!(s.begin(1, 0, t(1)), Verdict::Conflict);
        assert_eq!(s.begin(1, 7, t(1)), Verdict::Mismatch);
        s.complete(1, 200);
        assert_eq!(s.begin(1, 0, t(2)), Verdict::Replay(200));
        assert_eq!(s.begin(1, 0, t(10)), Verdict::Execute, "expired after the TTL");
        assert_eq!(s.expirations, 1);
    }

    #[test]
    fn capacity_evicts_or_rejects() {
        let mut s = store(2, Eviction::EvictOldest);
        for k in 0..3 {
            assert_eq!(s.begin(k, 0, SimTime(k)), Verdict::Execute);
        }
        assert_eq!(s.evictions, 1);
        assert_eq!(s.begin(0, 0, SimTime(5)), Verdict::Execute, "key 0 was evicted: executes again");
        let mut r = store(2, Eviction::Reject);
        r.begin(0, 0, SimTime(0));
        r.begin(1, 0, SimTime(0));
        assert_eq!(r.begin(2, 0, SimTime(0)), Verdict::Full);
    }
}
