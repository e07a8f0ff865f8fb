//! Bounds on everything a run can grow. Hitting one stops the run with an error that names the
//! bound and the model setting that raises it (TigerBeetle: "put a limit on everything").

use serde::{Deserialize, Serialize};

/// Run-wide limits. Defaults are generous for a laptop and small enough that a runaway model
/// (a retry storm that never ends, a queue that grows without bound) stops in seconds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Events processed in one run. Default 2e9.
    pub max_events: u64,
    /// Events pending in the future event list at once. Default 20 million.
    pub max_pending_events: u64,
    /// Requests (attempts on the wire) in flight at once across all components. Default 5 million.
    pub max_in_flight: u64,
    /// Invocations started but not yet ended. Default 5 million.
    pub max_open_invocations: u64,
    /// Bytes written to a trace file. Default 20 GiB.
    pub max_trace_bytes: u64,
    /// Nodes of the causal graph (notable events). Past it, recording stops and the summary
    /// says `causes_truncated`; the run goes on. Default 1 million.
    pub max_cause_nodes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events: 2_000_000_000,
            max_pending_events: 20_000_000,
            max_in_flight: 5_000_000,
            max_open_invocations: 5_000_000,
            max_trace_bytes: 20 * 1024 * 1024 * 1024,
            max_cause_nodes: 1_000_000,
        }
    }
}

/// A run reached one of its bounds.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("limit reached: {what} hit {value} at simulated time {at}; raise `{setting}` in the model's [limits] table (or pass --set {setting}=N) if this load is intended")]
pub struct LimitExceeded {
    /// What grew too large, in words.
    pub what: &'static str,
    /// The value that was reached.
    pub value: u64,
    /// The model setting that raises the bound.
    pub setting: &'static str,
    /// Simulated time at which it happened, formatted.
    pub at: String,
}
