//! Client-side resilience: retry budgets and circuit breakers, attached to a caller's outbound
//! call. Server-side protection (rate limits) lives in `rate_limit.rs`.
//!
//! - Token-bucket retry budget: the AWS SDK retry quota (500 tokens, 5 per retry, 10 per retry
//!   after a timeout, 1 back per success; AWS SDK standard retry mode) and gRPC retry throttling
//!   (gRPC proposal A6: `max_tokens`, one token lost per failure, `token_ratio` back per success,
//!   retries only while more than half the tokens remain) are both instances of it.
//! - Ratio budget: Envoy's `retry_budget` (`budget_percent` of active requests, default 20 %,
//!   with `min_retry_concurrency` 3; Envoy API docs) and the SRE book's rule of retrying only while
//!   retries are under 10 % of requests (Google SRE book ch. 22).
//! - Circuit breaker: opens after `failure_threshold` failures within `window`, stays open for
//!   `open_for`, then lets `half_open_probes` requests through; a success closes it. Also Envoy's
//!   concurrency limits (1024 requests, 3 concurrent retries by default; Envoy API docs).

use crate::engine::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RetryBudgetConfig {
    TokenBucket {
        /// Tokens when full (AWS: 500; gRPC: max_tokens, e.g. 10).
        #[serde(default = "aws_capacity")]
        capacity: f64,
        /// Tokens a retry costs (AWS: 5; gRPC: 1).
        #[serde(default = "aws_retry_cost")]
        retry_cost: f64,
        /// Tokens a retry after a timeout costs (AWS: 10).
        #[serde(default = "aws_timeout_cost")]
        timeout_retry_cost: f64,
        /// Tokens returned per success (AWS: 1; gRPC: token_ratio, e.g. 0.1).
        #[serde(default = "one")]
        success_refund: f64,
        /// Retries only while more than this many tokens remain (gRPC: capacity / 2; AWS: 0).
        #[serde(default)]
        min_tokens: f64,
    },
    Ratio {
        /// Retries in flight may be at most this percent of requests in flight (Envoy 20, SRE 10).
        #[serde(default = "envoy_percent")]
        percent: f64,
        /// Retries always allowed up to this many in flight (Envoy min_retry_concurrency 3).
        #[serde(default = "envoy_min")]
        min_concurrency: u32,
    },
}

fn aws_capacity() -> f64 {
    500.0
}
fn aws_retry_cost() -> f64 {
    5.0
}
fn aws_timeout_cost() -> f64 {
    10.0
}
fn one() -> f64 {
    1.0
}
fn envoy_percent() -> f64 {
    20.0
}
fn envoy_min() -> u32 {
    3
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CircuitBreakerConfig {
    /// Failures within `window` that open the breaker (0: never opens on failures).
    pub failure_threshold: u32,
    pub window: SimDuration,
    pub open_for: SimDuration,
    pub half_open_probes: u32,
    /// Concurrent requests allowed (Envoy max_requests 1024).
    pub max_requests: u32,
    /// Concurrent retries allowed (Envoy max_retries 3).
    pub max_retries: u32,
    /// Status the caller sees when the breaker refuses (Envoy answers 503).
    pub open_status: u16,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 0,
            window: SimDuration::from_secs(10),
            open_for: SimDuration::from_secs(5),
            half_open_probes: 1,
            max_requests: 1024,
            max_retries: 3,
            open_status: 503,
        }
    }
}

/// Runtime state of a retry budget.
#[derive(Clone, Debug)]
pub enum RetryBudget {
    TokenBucket { tokens: f64, capacity: f64, retry_cost: f64, timeout_retry_cost: f64, success_refund: f64, min_tokens: f64 },
    Ratio { percent: f64, min_concurrency: u32 },
}

impl RetryBudget {
    pub fn new(c: &RetryBudgetConfig) -> Self {
        match *c {
            RetryBudgetConfig::TokenBucket { capacity, retry_cost, timeout_retry_cost, success_refund, min_tokens } => {
                RetryBudget::TokenBucket { tokens: capacity, capacity, retry_cost, timeout_retry_cost, success_refund, min_tokens }
            }
            RetryBudgetConfig::Ratio { percent, min_concurrency } => RetryBudget::Ratio { percent, min_concurrency },
        }
    }

    /// Takes what a retry costs, or refuses it.
    pub fn try_spend(&mut self, after_timeout: bool, active_requests: u32, active_retries: u32) -> bool {
        match self {
            RetryBudget::TokenBucket { tokens, retry_cost, timeout_retry_cost, min_tokens, .. } => {
                let cost = if after_timeout { *timeout_retry_cost } else { *retry_cost };
                if *tokens - cost < *min_tokens || *tokens < cost {
                    return false;
                }
                *tokens -= cost;
                true
            }
            RetryBudget::Ratio { percent, min_concurrency } => {
                let allowed = ((*percent / 100.0) * active_requests as f64).floor() as u32;
                active_retries < allowed.max(*min_concurrency)
            }
        }
    }

    pub fn on_success(&mut self) {
        if let RetryBudget::TokenBucket { tokens, capacity, success_refund, .. } = self {
            *tokens = (*tokens + *success_refund).min(*capacity);
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until: SimTime },
    HalfOpen { probes: u32 },
}

/// Runtime state of a circuit breaker.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    pub config: CircuitBreakerConfig,
    pub state: BreakerState,
    failures: VecDeque<SimTime>,
    pub opened: u64,
}

impl CircuitBreaker {
    pub fn new(config: CircuitBreakerConfig) -> Self {
        CircuitBreaker { config, state: BreakerState::Closed, failures: VecDeque::new(), opened: 0 }
    }

    /// Whether a new attempt may go out now.
    pub fn admit(&mut self, now: SimTime, active_requests: u32, active_retries: u32, is_retry: bool) -> bool {
        if active_requests >= self.config.max_requests || (is_retry && active_retries >= self.config.max_retries) {
            return false;
        }
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { until } if now >= until => {
                self.state = BreakerState::HalfOpen { probes: 1 };
                true
            }
            BreakerState::Open { .. } => false,
            BreakerState::HalfOpen { probes } if probes < self.config.half_open_probes => {
                self.state = BreakerState::HalfOpen { probes: probes + 1 };
                true
            }
            BreakerState::HalfOpen { .. } => false,
        }
    }

    pub fn record(&mut self, now: SimTime, success: bool) {
        if success {
            if matches!(self.state, BreakerState::HalfOpen { .. }) {
                self.state = BreakerState::Closed;
                self.failures.clear();
            }
            return;
        }
        if matches!(self.state, BreakerState::HalfOpen { .. }) {
            self.trip(now);
            return;
        }
        if self.config.failure_threshold == 0 {
            return;
        }
        self.failures.push_back(now);
        while self.failures.front().is_some_and(|t| now.since(*t) > self.config.window) {
            self.failures.pop_front();
        }
        if self.failures.len() as u32 >= self.config.failure_threshold && self.state == BreakerState::Closed {
            self.trip(now);
        }
    }

    fn trip(&mut self, now: SimTime) {
        self.state = BreakerState::Open { until: now + self.config.open_for };
        self.failures.clear();
        self.opened += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_caps_retries_at_full_failure() {
        // AWS quota: 500 tokens, 5 per retry: exactly 100 retries, then none until successes.
        let mut b = RetryBudget::new(&RetryBudgetConfig::TokenBucket {
            capacity: 500.0,
            retry_cost: 5.0,
            timeout_retry_cost: 10.0,
            success_refund: 1.0,
            min_tokens: 0.0,
        });
        let granted = (0..1000).filter(|_| b.try_spend(false, 0, 0)).count();
        assert_eq!(granted, 100);
        for _ in 0..5 {
            b.on_success();
        }
        assert!(b.try_spend(false, 0, 0));
        assert!(!b.try_spend(false, 0, 0));
    }

    #[test]
    fn ratio_budget_allows_percent_of_active() {
        let mut b = RetryBudget::new(&RetryBudgetConfig::Ratio { percent: 10.0, min_concurrency: 0 });
        assert!(b.try_spend(false, 100, 9));
        assert!(!b.try_spend(false, 100, 10));
        let mut b = RetryBudget::new(&RetryBudgetConfig::Ratio { percent: 10.0, min_concurrency: 3 });
        assert!(b.try_spend(false, 5, 2));
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let mut cb = CircuitBreaker::new(CircuitBreakerConfig { failure_threshold: 3, ..Default::default() });
        let t = |s: u64| SimTime(s * 1_000_000);
        for i in 0..3 {
            assert!(cb.admit(t(i), 0, 0, false));
            cb.record(t(i), false);
        }
        assert!(!cb.admit(t(3), 0, 0, false), "open after 3 failures");
        assert!(cb.admit(t(8), 0, 0, false), "half-open probe after open_for");
        assert!(!cb.admit(t(8), 0, 0, false), "one probe only");
        cb.record(t(8), true);
        assert_eq!(cb.state, BreakerState::Closed);
    }
}
