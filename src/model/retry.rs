//! Retry policies and backoff strategies.
//!
//! Backoff formulas follow AWS Architecture Blog, "Exponential Backoff and Jitter" (Brooker,
//! 2015), with `v = min(cap, base * 2^attempt)`:
//! none = 0; constant = base; exponential = v; full jitter = uniform(0, v);
//! equal jitter = v/2 + uniform(0, v/2); decorrelated = min(cap, uniform(base, 3 * previous)),
//! with `previous` starting at `base`.

use super::Status;
use crate::engine::SimDuration;
use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackoffStrategy {
    None,
    Constant,
    Exponential,
    FullJitter,
    EqualJitter,
    Decorrelated,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    pub strategy: BackoffStrategy,
    pub base: SimDuration,
    pub cap: SimDuration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { strategy: BackoffStrategy::None, base: SimDuration::ZERO, cap: SimDuration::from_secs(20) }
    }
}

impl Backoff {
    /// The sleep before retry number `retry` (0 for the first retry). `previous` is the previous
    /// sleep, used only by decorrelated jitter (pass `base` for the first retry).
    pub fn sleep<R: Rng + ?Sized>(&self, retry: u32, previous: SimDuration, rng: &mut R) -> SimDuration {
        let base = self.base.micros();
        let cap = self.cap.micros();
        let v = if retry >= 63 { cap } else { base.saturating_mul(1u64 << retry.min(62)).min(cap) };
        let us = match self.strategy {
            BackoffStrategy::None => 0,
            BackoffStrategy::Constant => base.min(cap),
            BackoffStrategy::Exponential => v,
            BackoffStrategy::FullJitter => rng.gen_range(0..=v),
            BackoffStrategy::EqualJitter => v / 2 + rng.gen_range(0..=v / 2),
            BackoffStrategy::Decorrelated => {
                let prev = previous.micros().max(base);
                let hi = prev.saturating_mul(3).max(base);
                rng.gen_range(base..=hi).min(cap)
            }
        };
        SimDuration(us)
    }
}

/// Which outcomes a caller retries.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RetryOn {
    pub timeout: bool,
    pub reset: bool,
    pub malformed: bool,
    /// HTTP statuses retried (sorted, deduplicated).
    pub statuses: Vec<u16>,
}

impl RetryOn {
    pub fn matches(&self, status: Status) -> bool {
        match status {
            Status::TimedOut => self.timeout,
            Status::Reset => self.reset,
            Status::Malformed => self.malformed,
            Status::Http(s) => self.statuses.binary_search(&s).is_ok(),
        }
    }
    fn from_words(words: &[RetryWord]) -> Result<Self, String> {
        let mut r = RetryOn::default();
        for w in words {
            match w {
                RetryWord::Code(c) => {
                    if !(100..=599).contains(c) {
                        return Err(format!("{c} is not an HTTP status (expected 100-599)"));
                    }
                    r.statuses.push(*c)
                }
                RetryWord::Word(s) => match s.as_str() {
                    "timeout" => r.timeout = true,
                    "reset" | "connection-reset" => r.reset = true,
                    "malformed" => r.malformed = true,
                    "5xx" => r.statuses.extend(500..600),
                    "gateway-errors" => r.statuses.extend([502, 503, 504]),
                    other => {
                        return Err(format!(
                            "unknown retry condition `{other}`; expected timeout, reset, malformed, 5xx, gateway-errors or an HTTP status such as 429"
                        ))
                    }
                },
            }
        }
        r.statuses.sort_unstable();
        r.statuses.dedup();
        Ok(r)
    }
    fn to_words(&self) -> Vec<RetryWord> {
        let mut w = vec![];
        if self.timeout {
            w.push(RetryWord::Word("timeout".into()));
        }
        if self.reset {
            w.push(RetryWord::Word("reset".into()));
        }
        if self.malformed {
            w.push(RetryWord::Word("malformed".into()));
        }
        w.extend(self.statuses.iter().map(|s| RetryWord::Code(*s)));
        w
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum RetryWord {
    Code(u16),
    Word(String),
}

impl Serialize for RetryOn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_words().serialize(s)
    }
}
impl<'de> Deserialize<'de> for RetryOn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let words = Vec::<RetryWord>::deserialize(d)?;
        RetryOn::from_words(&words).map_err(serde::de::Error::custom)
    }
}

/// A caller's retry policy. The default makes one attempt and never retries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Outcomes that are retried.
    pub retry_on: RetryOn,
    pub backoff: Backoff,
    /// Wait at least as long as a 429/503's Retry-After before retrying.
    pub honour_retry_after: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            retry_on: RetryOn::from_words(&[
                RetryWord::Word("timeout".into()),
                RetryWord::Word("reset".into()),
                RetryWord::Code(502),
                RetryWord::Code(503),
                RetryWord::Code(504),
            ])
            .expect("valid"),
            backoff: Backoff::default(),
            honour_retry_after: true,
        }
    }
}

impl RetryPolicy {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.max_attempts == 0 {
            return Err(("max_attempts".into(), "must be at least 1 (1 means no retry)".into()));
        }
        if self.max_attempts > 100 {
            return Err(("max_attempts".into(), "more than 100 attempts is almost certainly a mistake".into()));
        }
        if self.backoff.base > self.backoff.cap {
            return Err(("backoff.base".into(), format!("base {} is above cap {}", self.backoff.base, self.backoff.cap)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn b(strategy: BackoffStrategy) -> Backoff {
        Backoff { strategy, base: SimDuration::from_millis(100), cap: SimDuration::from_secs(2) }
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        let e = b(BackoffStrategy::Exponential);
        let s: Vec<u64> = (0..7).map(|i| e.sleep(i, SimDuration::ZERO, &mut rng).micros() / 1000).collect();
        assert_eq!(s, vec![100, 200, 400, 800, 1600, 2000, 2000]);
    }

    /// Each jitter strategy stays within its formula's bounds and has the formula's mean.
    /// n = 100 000 draws; the tolerance is 4 standard errors of a uniform on [0, v]
    /// (sd = v / sqrt(12)), so a correct implementation fails with probability < 1e-4.
    #[test]
    fn jitter_bounds_and_means() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(7);
        let n = 100_000u32;
        for retry in [0u32, 2, 5] {
            let v = (100_000u64 << retry).min(2_000_000) as f64;
            let se = v / 12f64.sqrt() / (n as f64).sqrt();
            for (strategy, lo, hi, mean) in [(BackoffStrategy::FullJitter, 0.0, v, v / 2.0), (BackoffStrategy::EqualJitter, v / 2.0, v, 0.75 * v)] {
                let bo = b(strategy);
                let mut sum = 0.0;
                for _ in 0..n {
                    let s = bo.sleep(retry, SimDuration::ZERO, &mut rng).micros() as f64;
                    assert!(s >= lo.floor() && s <= hi, "{strategy:?} {s} outside [{lo}, {hi}]");
                    sum += s;
                }
                let m = sum / n as f64;
                assert!((m - mean).abs() < 4.0 * se, "{strategy:?} retry {retry}: mean {m} vs {mean}");
            }
        }
        // Decorrelated: uniform(base, 3 * previous) capped.
        let bo = b(BackoffStrategy::Decorrelated);
        let prev = SimDuration::from_millis(300);
        let (lo, hi) = (100_000.0, 900_000.0);
        let mut sum = 0.0;
        for _ in 0..n {
            let s = bo.sleep(3, prev, &mut rng).micros() as f64;
            assert!(s >= lo && s <= hi);
            sum += s;
        }
        let se = (hi - lo) / 12f64.sqrt() / (n as f64).sqrt();
        assert!((sum / n as f64 - (lo + hi) / 2.0).abs() < 4.0 * se);
    }

    #[test]
    fn retry_on_words() {
        let r: RetryPolicy = toml::from_str("max_attempts = 3\nretry_on = [\"timeout\", 429, \"gateway-errors\"]").unwrap();
        assert!(r.retry_on.matches(Status::TimedOut));
        assert!(r.retry_on.matches(Status::Http(429)));
        assert!(r.retry_on.matches(Status::Http(503)));
        assert!(!r.retry_on.matches(Status::Http(500)));
        assert!(!r.retry_on.matches(Status::Reset));
        assert!(toml::from_str::<RetryPolicy>("retry_on = [\"sometimes\"]").is_err());
    }
}
