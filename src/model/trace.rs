//! The event trace: one row per notable event, streamed to a file as CSV or JSON Lines, never
//! held in memory. Columns: `time_us, event, component, org, session, invocation, attempt,
//! status, detail`.

use super::world::Sim;
use super::{AttemptKey, InvocationKey, NodeId, Payload};
use crate::engine::{LimitExceeded, SimTime};
use std::io::Write;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TraceKind {
    InvocationStarted,
    InvocationEnded,
    AttemptSent,
    ReplyReceived,
    TryTimeout,
    DeadlinePassed,
    OrphanReply,
    WorkCancelled,
    QueueFull,
    Rotated,
    RotationLost,
    GraceReuse,
    ReuseDetected,
    FamilyRevoked,
    ReauthRequired,
    ManualReauth,
    DuplicateSideEffect,
    FaultStarted,
    KeepAliveReset,
    IdempotentReplay,
    ServiceRestarted,
    RateLimited,
    RetryRefused,
    BreakerRejected,
    FaultEnded,
}

impl TraceKind {
    pub fn name(self) -> &'static str {
        match self {
            TraceKind::InvocationStarted => "invocation_started",
            TraceKind::InvocationEnded => "invocation_ended",
            TraceKind::AttemptSent => "attempt_sent",
            TraceKind::ReplyReceived => "reply_received",
            TraceKind::TryTimeout => "try_timeout",
            TraceKind::DeadlinePassed => "deadline_passed",
            TraceKind::OrphanReply => "orphan_reply",
            TraceKind::WorkCancelled => "work_cancelled",
            TraceKind::QueueFull => "queue_full",
            TraceKind::Rotated => "refresh_token_rotated",
            TraceKind::RotationLost => "rotation_lost",
            TraceKind::GraceReuse => "grace_reuse",
            TraceKind::ReuseDetected => "reuse_detected",
            TraceKind::FamilyRevoked => "family_revoked",
            TraceKind::ReauthRequired => "reauth_required",
            TraceKind::ManualReauth => "manual_reauth",
            TraceKind::DuplicateSideEffect => "duplicate_side_effect",
            TraceKind::FaultStarted => "fault_started",
            TraceKind::KeepAliveReset => "keepalive_reset",
            TraceKind::IdempotentReplay => "idempotent_replay",
            TraceKind::ServiceRestarted => "service_restarted",
            TraceKind::RateLimited => "rate_limited",
            TraceKind::RetryRefused => "retry_refused_by_budget",
            TraceKind::BreakerRejected => "circuit_open",
            TraceKind::FaultEnded => "fault_ended",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    Csv,
    JsonLines,
}

/// One trace row, borrowed for the time it takes to write it.
pub struct TraceRow<'a> {
    pub time: SimTime,
    pub kind: TraceKind,
    pub component: &'a str,
    pub org: &'a str,
    pub session: Option<u32>,
    pub invocation: Option<u64>,
    pub attempt: Option<u32>,
    pub status: &'a str,
    pub detail: &'a str,
}

/// Writes trace rows; counts bytes to enforce `limits.max_trace_bytes`; hashes every byte so a
/// run can be compared with another without keeping the file.
pub struct Tracer {
    out: Box<dyn Write>,
    format: TraceFormat,
    bytes: u64,
    max_bytes: u64,
    hasher: blake3::Hasher,
    buf: String,
    pub error: Option<String>,
}

impl Tracer {
    pub fn new(out: Box<dyn Write>, format: TraceFormat, max_bytes: u64) -> Self {
        let mut t = Tracer { out, format, bytes: 0, max_bytes, hasher: blake3::Hasher::new(), buf: String::with_capacity(256), error: None };
        if format == TraceFormat::Csv {
            t.emit_raw("time_us,event,component,org,session,invocation,attempt,status,detail\n".to_string());
        }
        t
    }

    fn emit_raw(&mut self, line: String) {
        self.hasher.update(line.as_bytes());
        self.bytes += line.len() as u64;
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(line.as_bytes()) {
                self.error = Some(e.to_string());
            }
        }
    }

    pub fn write(&mut self, row: &TraceRow) {
        use std::fmt::Write as _;
        let mut b = std::mem::take(&mut self.buf);
        b.clear();
        let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        match self.format {
            TraceFormat::Csv => {
                let _ = writeln!(
                    b,
                    "{},{},{},{},{},{},{},{},{}",
                    row.time.micros(),
                    row.kind.name(),
                    csv_field(row.component),
                    csv_field(row.org),
                    opt(row.session.map(u64::from)),
                    opt(row.invocation),
                    opt(row.attempt.map(u64::from)),
                    csv_field(row.status),
                    csv_field(row.detail)
                );
            }
            TraceFormat::JsonLines => {
                let v = serde_json::json!({
                    "time_us": row.time.micros(),
                    "event": row.kind.name(),
                    "component": row.component,
                    "org": row.org,
                    "session": row.session,
                    "invocation": row.invocation,
                    "attempt": row.attempt,
                    "status": row.status,
                    "detail": row.detail,
                });
                let _ = writeln!(b, "{v}");
            }
        }
        self.hasher.update(b.as_bytes());
        self.bytes += b.len() as u64;
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(b.as_bytes()) {
                self.error = Some(e.to_string());
            }
        }
        self.buf = b;
    }

    pub fn over_limit(&self, at: SimTime) -> Option<LimitExceeded> {
        (self.bytes > self.max_bytes).then(|| LimitExceeded {
            what: "trace bytes",
            value: self.max_bytes,
            setting: "limits.max_trace_bytes",
            at: at.to_string(),
        })
    }

    pub fn finish(mut self) -> Result<(u64, String), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush().map_err(|e| e.to_string())?;
        Ok((self.bytes, self.hasher.finalize().to_hex().to_string()))
    }
}

fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

impl Sim {
    /// Traces an event about one attempt (component = the callee).
    pub(crate) fn trace_attempt(&mut self, now: SimTime, kind: TraceKind, attempt: AttemptKey, detail: &str) {
        if self.trace.is_none() {
            return;
        }
        let Some(a) = self.attempts.get(attempt) else { return };
        let inv_id = a.invocation.and_then(|k| self.invocations.get(k)).map(|i| i.id);
        let what = match a.payload {
            Payload::Webhook { .. } => "webhook",
            Payload::Refresh { .. } => "refresh",
            Payload::Api { .. } => "api",
        };
        let status = if a.answered || kind == TraceKind::ReplyReceived || kind == TraceKind::OrphanReply { a.response.status.label() } else { String::new() };
        let caller = &self.specs[a.spec as usize].caller_name;
        let detail = if detail.is_empty() {
            match a.payload {
                Payload::Refresh { token, .. } => format!("{what} from {caller} try {} rt=f{}e{}g{}", a.number, token.family, token.epoch, token.generation),
                _ => format!("{what} from {caller} try {}", a.number),
            }
        } else {
            detail.to_string()
        };
        let row = TraceRow {
            time: now,
            kind,
            component: &self.nodes[a.callee as usize].name,
            org: &self.model.orgs[a.org as usize].name,
            session: Some(a.session),
            invocation: inv_id,
            attempt: Some(a.number),
            status: &status,
            detail: &detail,
        };
        self.trace.as_mut().expect("checked").write(&row);
    }

    /// Traces an event not tied to one attempt. `node == u16::MAX` means no component.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn trace_raw(&mut self, now: SimTime, kind: TraceKind, node: NodeId, org: u16, session: u32, inv: Option<InvocationKey>, detail: &str) {
        if self.trace.is_none() {
            return;
        }
        let inv_id = inv.and_then(|k| self.invocations.get(k)).map(|i| i.id);
        let component = if node == u16::MAX { "" } else { self.nodes[node as usize].name.as_str() };
        let (status, detail) = if kind == TraceKind::InvocationEnded { (detail, "") } else { ("", detail) };
        let row = TraceRow {
            time: now,
            kind,
            component,
            org: &self.model.orgs[org as usize].name,
            session: Some(session),
            invocation: inv_id,
            attempt: None,
            status,
            detail,
        };
        self.trace.as_mut().expect("checked").write(&row);
    }
}
