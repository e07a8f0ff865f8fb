//! Load over time: per-second buckets per component (offered load, goodput, errors by status,
//! timeouts, retries, queue length, in-flight work) streamed as CSV, and the client's goodput
//! per second, from which the run judges whether it recovered after a trigger (a fault window).
//!
//! Rows are written as simulated time passes each bucket boundary, so memory does not grow
//! with the run.

use super::world::{NodeKind, Sim};
use super::Status;
use crate::engine::{SimDuration, SimTime};
use serde::Serialize;
use std::io::Write;

#[derive(Clone, Copy, Default)]
pub struct Bucket {
    pub offered: u64,
    pub ok: u64,
    pub s401: u64,
    pub s429: u64,
    pub s502: u64,
    pub s503: u64,
    pub s504: u64,
    pub other_errors: u64,
    pub timeouts: u64,
    pub retries: u64,
}

impl Bucket {
    pub fn count(&mut self, status: Status) {
        match status {
            s if s.is_success() => self.ok += 1,
            Status::Http(401) => self.s401 += 1,
            Status::Http(429) => self.s429 += 1,
            Status::Http(502) => self.s502 += 1,
            Status::Http(503) => self.s503 += 1,
            Status::Http(504) => self.s504 += 1,
            Status::TimedOut => self.timeouts += 1,
            _ => self.other_errors += 1,
        }
    }
}

pub struct TimeSeries {
    pub out: Box<dyn Write>,
    pub width: SimDuration,
    /// Index of the bucket being filled.
    pub current: u64,
    /// One bucket per component, and the last one for the workload's clients.
    pub buckets: Vec<Bucket>,
    pub in_flight: Vec<i64>,
    pub error: Option<String>,
}

pub const HEADER: &str = "second,component,offered,goodput,s401,s429,s502,s503,s504,other_errors,timeouts,retries,queue_len,in_flight,fault_active\n";

/// The client's goodput per second, kept when the model has a trigger to recover from.
#[derive(Default)]
pub struct GoodputLog {
    pub per_second: Vec<(u32, u32)>,
}

impl GoodputLog {
    pub fn record(&mut self, now: SimTime, ok: bool) {
        let s = (now.micros() / 1_000_000) as usize;
        if self.per_second.len() <= s {
            self.per_second.resize(s + 1, (0, 0));
        }
        self.per_second[s].0 += 1;
        if ok {
            self.per_second[s].1 += 1;
        }
    }
}

/// Whether, and how fast, goodput came back after the trigger window ended.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RecoveryVerdict {
    pub trigger_start_s: f64,
    pub trigger_end_s: f64,
    /// Mean goodput (successful invocations per second) before the trigger.
    pub goodput_before: f64,
    /// Mean goodput over the last 60 s of arrivals.
    pub goodput_at_end: f64,
    pub recovered_after_trigger: bool,
    /// Seconds from the end of the trigger until goodput is back (10-second average at or above
    /// 90 % of the level before the trigger).
    pub time_to_recover_s: Option<f64>,
}

/// Judges recovery from per-second goodput. A 10-second average smooths Poisson noise: at
/// 50 successes per second, one second varies by about 14 %, ten seconds by about 4.5 %, well
/// inside the 10 % margin.
pub fn judge_recovery(log: &GoodputLog, start: SimTime, end: SimTime, arrivals_end: SimTime) -> RecoveryVerdict {
    let s0 = (start.micros() / 1_000_000) as usize;
    let s1 = (end.micros() / 1_000_000).div_ceil(1) as usize;
    let last = ((arrivals_end.micros() / 1_000_000) as usize).min(log.per_second.len());
    let ok = |i: usize| log.per_second.get(i).map(|x| x.1 as f64).unwrap_or(0.0);
    let before_from = s0.saturating_sub(60);
    let before = if s0 > before_from { (before_from..s0).map(ok).sum::<f64>() / (s0 - before_from) as f64 } else { 0.0 };
    let end_from = last.saturating_sub(60).max(s1.min(last));
    let at_end = if last > end_from { (end_from..last).map(ok).sum::<f64>() / (last - end_from) as f64 } else { 0.0 };
    let mut recovered_at = None;
    let mut t = s1;
    while t + 10 <= last {
        let avg = (t..t + 10).map(ok).sum::<f64>() / 10.0;
        if avg >= 0.9 * before {
            recovered_at = Some(t);
            break;
        }
        t += 1;
    }
    RecoveryVerdict {
        trigger_start_s: start.as_secs_f64(),
        trigger_end_s: end.as_secs_f64(),
        goodput_before: before,
        goodput_at_end: at_end,
        recovered_after_trigger: recovered_at.is_some(),
        time_to_recover_s: recovered_at.map(|t| (t as f64 - end.as_secs_f64()).max(0.0)),
    }
}

impl Sim {
    #[inline]
    pub(crate) fn ts_offered(&mut self, node: usize) {
        if let Some(ts) = self.timeseries.as_mut() {
            ts.buckets[node].offered += 1;
            ts.in_flight[node] += 1;
        }
    }
    #[inline]
    pub(crate) fn ts_answered(&mut self, node: usize, status: Status) {
        if let Some(ts) = self.timeseries.as_mut() {
            ts.buckets[node].count(status);
            ts.in_flight[node] -= 1;
        }
    }
    #[inline]
    pub(crate) fn ts_retry(&mut self, node: usize) {
        if let Some(ts) = self.timeseries.as_mut() {
            ts.buckets[node].retries += 1;
        }
    }
    #[inline]
    pub(crate) fn ts_try_timeout(&mut self, node: usize) {
        if let Some(ts) = self.timeseries.as_mut() {
            ts.buckets[node].timeouts += 1;
        }
    }
    #[inline]
    pub(crate) fn ts_client(&mut self, started: bool, status: Option<Status>) {
        if let Some(ts) = self.timeseries.as_mut() {
            let c = ts.buckets.len() - 1;
            if started {
                ts.buckets[c].offered += 1;
                ts.in_flight[c] += 1;
            }
            if let Some(st) = status {
                ts.buckets[c].count(st);
                ts.in_flight[c] -= 1;
            }
        }
    }

    /// Writes every bucket that ends at or before `now`.
    pub(crate) fn ts_roll(&mut self, now: SimTime) {
        let Some(ts) = self.timeseries.as_ref() else { return };
        let width = ts.width.micros().max(1);
        let target = now.micros() / width;
        while self.timeseries.as_ref().expect("checked").current < target {
            self.ts_flush();
        }
    }

    /// Writes the current bucket and starts the next.
    pub(crate) fn ts_flush(&mut self) {
        let mut ts = self.timeseries.take().expect("called with a time series");
        let second = ts.current as f64 * ts.width.as_secs_f64();
        let t = SimTime(ts.current * ts.width.micros());
        let mut out = String::new();
        for i in 0..ts.buckets.len() {
            let b = ts.buckets[i];
            let (name, queue, fault) = if i + 1 == ts.buckets.len() {
                ("clients", 0, 0)
            } else {
                let q = match &self.nodes[i].kind {
                    NodeKind::Service(s) => s.queue.len(),
                    NodeKind::TokenEndpoint(te) => te.server.queue.len(),
                    NodeKind::PlatformApi(a) => a.server.queue.len(),
                    _ => 0,
                };
                let f = self.any_fault_active(i as u16, t) as u8;
                (self.nodes[i].name.as_str(), q, f)
            };
            use std::fmt::Write as _;
            let _ = writeln!(
                out,
                "{second},{name},{},{},{},{},{},{},{},{},{},{},{queue},{},{fault}",
                b.offered, b.ok, b.s401, b.s429, b.s502, b.s503, b.s504, b.other_errors, b.timeouts, b.retries, ts.in_flight[i]
            );
        }
        if ts.error.is_none() {
            if let Err(e) = ts.out.write_all(out.as_bytes()) {
                ts.error = Some(e.to_string());
            }
        }
        for b in ts.buckets.iter_mut() {
            *b = Bucket::default();
        }
        ts.current += 1;
        self.timeseries = Some(ts);
    }
}
