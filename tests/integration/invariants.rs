//! edgesim's own invariants, checked with proptest over generated variations of
//! `models/check-invariants.toml`: token cache scope and refresh mode, rotation on/off, reuse
//! detection, grace, TTLs, timeouts, retry counts and backoff, idempotency keys and TTLs, async
//! acknowledgement, workers, cancel-on-disconnect, load, bursts and fault windows (a slow token
//! endpoint, webhook errors, a webhook restart).
//!
//! What is checked, precisely:
//! - **Determinism**: two runs of a variation give byte-identical summary JSON and trace bytes
//!   (and the same trace hash).
//! - **Conservation**: every invocation started ends: `invocations_unfinished == 0` (the base
//!   drain of 5 min outlasts any edge deadline, at most 60 s) and the outcomes add up to
//!   `invocations`; in the trace, each invocation starts once and ends once.
//! - **Causality**: trace times never decrease; an invocation ends no earlier than it starts.
//! - **Single-flight refresh**: with `refresh = "single-flight"`, per token cache (an org, or an
//!   org and session with `scope = "session"`), at most one refresh attempt is outstanding *at
//!   the caller* at any time: counting, from the trace, `attempt_sent` to the token endpoint as
//!   +1 and the caller's end of that attempt (`reply_received`, `try_timeout` or
//!   `deadline_passed`) as -1. At the *token endpoint* two refreshes of one family can still
//!   overlap: an attempt the caller timed out on keeps running there (it is orphaned until its
//!   `orphan_reply`) while the retry or the next refresh is sent. So the server-side overlap is
//!   bounded by 1 + the orphans of that cache, and only orphans can be the extra ones; that is
//!   what the check asserts (and it reports the largest server-side overlap it saw).
//! - **Rotation off implies no reuse**: with `idp.rotation = false`, no rotation, reuse
//!   detection, reuse allowed, grace reuse, lost rotation or family revocation.
//! - **Idempotency**: with keys sent by the edge and a store that keeps them 24 h, no duplicate
//!   side effect.
//! - **No panic** on any generated variation, including extreme settings (one worker, no queue,
//!   zero TTL, millisecond timeouts): proptest catches a panic and shrinks it like a failure.
//!
//! Default: 64 cases per property, always the same ones (a fixed proptest seed), about 3 s in
//! release on 2 cores for the whole file. `EDGESIM_DEEP=1` runs 1000 fresh cases per property
//! (about a minute); `PROPTEST_RNG_SEED=N` picks the cases. A failure prints its case and the
//! `edgesim run models/check-invariants.toml --seed N --set ...` command that replays it;
//! proptest keeps failing cases in `tests/proptest-regressions/invariants.txt`.

use crate::determinism::SharedBuf;
use edgesim::engine::parse_duration;
use edgesim::model::trace::TraceFormat;
use edgesim::model::world::RunOptions;
use edgesim::testing::{self, BurstRange, Case, FaultKind, FaultRange, Milli, SettingRange, SettingValues, TestModel};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const MODEL: &str = "models/check-invariants.toml";

fn deep() -> bool {
    std::env::var("EDGESIM_DEEP").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// 64 cases per property from a fixed seed (the same cases on every CI run), or 1000 fresh ones
/// with `EDGESIM_DEEP=1`; `PROPTEST_RNG_SEED` picks the seed either way.
fn config() -> ProptestConfig {
    let mut c = ProptestConfig { cases: if deep() { 1000 } else { 64 }, max_shrink_iters: 512, ..ProptestConfig::default() };
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() && !deep() {
        c.rng_seed = proptest::test_runner::RngSeed::Fixed(20_240_601);
    }
    c
}

fn model() -> &'static TestModel {
    static M: OnceLock<TestModel> = OnceLock::new();
    M.get_or_init(|| TestModel::load(crate::repo(MODEL)).unwrap_or_else(|e| panic!("{e}")))
}

fn d(s: &str) -> edgesim::engine::SimDuration {
    parse_duration(s).unwrap()
}

fn durations(path: &str, lo: &str, hi: &str) -> SettingRange {
    SettingRange { path: path.into(), values: SettingValues::Duration(d(lo), d(hi)) }
}
fn ints(path: &str, lo: i64, hi: i64) -> SettingRange {
    SettingRange { path: path.into(), values: SettingValues::Int(lo, hi) }
}
fn one_of(path: &str, v: &[&str]) -> SettingRange {
    SettingRange { path: path.into(), values: SettingValues::OneOf(v.iter().map(|s| s.to_string()).collect()) }
}

/// Every knob the suite turns, with its range.
fn knobs() -> Vec<SettingRange> {
    vec![
        one_of("webhook.token_cache.scope", &["org", "session"]),
        one_of("webhook.token_cache.refresh", &["concurrent", "single-flight"]),
        durations("webhook.token_cache.refresh_ahead", "0s", "20s"),
        durations("webhook.token_cache.max_wait", "500ms", "20s"),
        one_of("idp.rotation", &["true", "false"]),
        one_of("idp.reuse_detection", &["revoke-family", "reject", "none"]),
        durations("idp.grace", "0s", "60s"),
        durations("idp.access_token_ttl", "0s", "120s"),
        one_of(
            "idp.latency",
            &[
                "20ms",
                r#"{ dist = "lognormal", median = "200ms", p99 = "2s" }"#,
                r#"{ dist = "lognormal", median = "1s", p99 = "10s" }"#,
                r#"{ dist = "exponential", mean = "500ms" }"#,
            ],
        ),
        durations("webhook.token_endpoint.timeout", "200ms", "20s"),
        ints("webhook.token_endpoint.retry.max_attempts", 1, 4),
        one_of(
            "webhook.token_endpoint.retry.backoff",
            &[
                r#"{ strategy = "none" }"#,
                r#"{ strategy = "full-jitter", base = "100ms", cap = "2s" }"#,
                r#"{ strategy = "exponential", base = "200ms", cap = "5s" }"#,
                r#"{ strategy = "decorrelated", base = "50ms", cap = "1s" }"#,
            ],
        ),
        durations("edge.deadline", "1s", "60s"),
        durations("edge.upstream.timeout", "50ms", "5s"),
        ints("edge.upstream.retry.max_attempts", 1, 3),
        one_of("edge.idempotency_keys", &["false", "true"]),
        one_of(
            "webhook.service_time",
            &[r#"{ dist = "lognormal", median = "30ms", p99 = "300ms" }"#, r#"{ dist = "lognormal", median = "300ms", p99 = "3s" }"#, "1s"],
        ),
        one_of("webhook.idempotency.enabled", &["false", "true"]),
        durations("webhook.idempotency.ttl", "1s", "24h"),
        one_of("webhook.acknowledge", &["sync", "async"]),
        ints("webhook.workers", 1, 16),
        one_of("webhook.cancel_on_disconnect", &["false", "true"]),
    ]
}

/// The same knobs pushed to their extremes.
fn extreme_knobs() -> Vec<SettingRange> {
    vec![
        one_of("webhook.token_cache.scope", &["org", "session"]),
        one_of("webhook.token_cache.refresh", &["concurrent", "single-flight"]),
        durations("webhook.token_cache.refresh_ahead", "0s", "10m"),
        durations("webhook.token_cache.max_wait", "0s", "10ms"),
        one_of("idp.reuse_detection", &["revoke-family", "reject", "none"]),
        durations("idp.access_token_ttl", "0s", "1s"),
        durations("idp.grace", "0s", "1ms"),
        durations("webhook.token_endpoint.timeout", "1ms", "50ms"),
        ints("webhook.token_endpoint.retry.max_attempts", 1, 5),
        durations("edge.deadline", "1ms", "2s"),
        durations("edge.upstream.timeout", "1ms", "50ms"),
        ints("edge.upstream.retry.max_attempts", 1, 5),
        one_of("edge.idempotency_keys", &["false", "true"]),
        one_of("webhook.idempotency.enabled", &["false", "true"]),
        durations("webhook.idempotency.ttl", "0s", "10ms"),
        ints("webhook.idempotency.capacity", 0, 2),
        one_of("webhook.acknowledge", &["sync", "async"]),
        ints("webhook.background.workers", 0, 1),
        ints("webhook.background.queue_capacity", 0, 1),
        ints("webhook.workers", 1, 2),
        ints("webhook.queue_capacity", 0, 2),
        one_of("webhook.cancel_on_disconnect", &["false", "true"]),
        one_of("webhook.service_time", &["0s", "1us"]),
    ]
}

fn faults() -> BoxedStrategy<Option<testing::FaultCase>> {
    let (start, three_min) = (d("0s"), d("3m"));
    let slow = FaultRange {
        component: "idp".into(),
        kind: FaultKind::Slow,
        intensity: (Milli(1000), Milli(20_000)),
        start: (start, three_min),
        length: (d("0s"), d("60s")),
    };
    let errors = FaultRange {
        component: "webhook".into(),
        kind: FaultKind::Errors,
        intensity: (Milli(0), Milli(800)),
        start: (start, three_min),
        length: (d("0s"), d("60s")),
    };
    let restart = FaultRange {
        component: "webhook".into(),
        kind: FaultKind::Restart,
        intensity: (Milli(0), Milli(0)),
        start: (start, three_min),
        length: (d("0s"), d("20s")),
    };
    prop_oneof![
        Just(None),
        testing::fault_window(&slow).prop_map(Some),
        testing::fault_window(&errors).prop_map(Some),
        testing::fault_window(&restart).prop_map(Some),
    ]
    .boxed()
}

/// Variations of the base model; `forced` settings are fixed (not generated).
fn variations_of(knobs: Vec<SettingRange>, forced: &[(&str, &str)], max_load: f64) -> BoxedStrategy<Case> {
    let forced: Vec<(String, String)> = forced.iter().map(|(p, v)| (p.to_string(), v.to_string())).collect();
    let settings: Vec<_> = knobs.iter().filter(|k| !forced.iter().any(|(p, _)| *p == k.path)).map(testing::setting).collect();
    let burst = BurstRange { workload: Some(2), count: (0, 100), at: (d("0s"), d("3m")) };
    (testing::load(0.2, max_load), faults(), testing::burst(&burst), settings, testing::seeds(1, u32::MAX as u64))
        .prop_map(move |(load, fault, burst, mut settings, seed)| {
            settings.extend(forced.iter().cloned());
            Case { seed, load: Some(load), burst: Some(burst), fault, settings }
        })
        .boxed()
}

fn variations(forced: &[(&str, &str)]) -> BoxedStrategy<Case> {
    variations_of(knobs(), forced, 5.0)
}

/// A failure of a case, with the command that replays it.
fn fail(case: &Case, what: String) -> TestCaseError {
    TestCaseError::fail(format!("{what}\ncase: {case}\nreplay: {}", model().replay_command(case)))
}

struct Traced {
    json: String,
    trace: String,
    hash: Option<String>,
    summary: edgesim::model::metrics::Summary,
}

fn run_traced(case: &Case) -> Result<Traced, TestCaseError> {
    let m = model().load_case(case).map_err(|e| fail(case, format!("the case gives an invalid model: {e}")))?;
    let buf = SharedBuf::default();
    let opts = RunOptions { seed: Some(case.seed), trace: Some((Box::new(buf.clone()), TraceFormat::Csv)), ..Default::default() };
    let summary = edgesim::run(m, opts).map_err(|e| fail(case, format!("the run stopped: {e}")))?;
    let trace = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    Ok(Traced { json: edgesim::report::to_json(&summary), trace, hash: summary.trace_hash.clone(), summary })
}

/// Trace rows as maps from column name to value (robust to added columns).
fn rows(trace: &str) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(trace.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records().map(|x| header.iter().cloned().zip(x.unwrap().iter().map(String::from)).collect()).collect()
}

fn conservation_and_causality(t: &Traced) -> Result<(), String> {
    let s = &t.summary;
    if s.invocations_unfinished != 0 {
        return Err(format!("{} of {} invocations never ended", s.invocations_unfinished, s.invocations));
    }
    let outcomes: u64 = s.outcomes.values().sum();
    if outcomes != s.invocations {
        return Err(format!("outcomes add up to {outcomes}, invocations = {}", s.invocations));
    }
    let mut last = 0u64;
    let mut started: BTreeMap<String, (u32, u64)> = BTreeMap::new();
    let mut ended: BTreeMap<String, u32> = BTreeMap::new();
    for r in rows(&t.trace) {
        let time: u64 = r["time_us"].parse().map_err(|_| format!("bad time in {r:?}"))?;
        if time < last {
            return Err(format!("time went backwards: {time} us after {last} us ({r:?})"));
        }
        last = time;
        match r["event"].as_str() {
            "invocation_started" => {
                let e = started.entry(r["invocation"].clone()).or_insert((0, time));
                e.0 += 1;
            }
            "invocation_ended" => {
                let inv = &r["invocation"];
                match started.get(inv) {
                    Some((_, t0)) if *t0 <= time => {}
                    Some((_, t0)) => return Err(format!("invocation {inv} ended at {time} us, before it started at {t0} us")),
                    None => return Err(format!("invocation {inv} ended at {time} us without having started")),
                }
                *ended.entry(inv.clone()).or_insert(0) += 1;
            }
            _ => {}
        }
    }
    if started.len() as u64 != s.invocations {
        return Err(format!("the trace starts {} invocations, the summary counts {}", started.len(), s.invocations));
    }
    if let Some((inv, (n, _))) = started.iter().find(|(_, (n, _))| *n != 1) {
        return Err(format!("invocation {inv} started {n} times"));
    }
    if let Some((inv, n)) = ended.iter().find(|(_, n)| **n != 1) {
        return Err(format!("invocation {inv} ended {n} times"));
    }
    if ended.len() != started.len() {
        return Err(format!("{} invocations started, {} ended", started.len(), ended.len()));
    }
    Ok(())
}

/// Single-flight: per cache, refresh attempts outstanding at the caller, and at the token
/// endpoint (the caller's plus those it gave up on whose reply has not come back). Returns the
/// largest server-side overlap seen.
fn single_flight(t: &Traced, per_session: bool) -> Result<u32, String> {
    #[derive(Default)]
    struct Cache {
        caller: u32,
        orphans: u32,
    }
    let mut caches: BTreeMap<(String, String), Cache> = BTreeMap::new();
    let mut worst_server = 0;
    for r in rows(&t.trace) {
        if r["component"] != "idp" {
            continue;
        }
        let key = (r["org"].clone(), if per_session { r["session"].clone() } else { String::new() });
        let c = caches.entry(key.clone()).or_default();
        match r["event"].as_str() {
            "attempt_sent" => {
                c.caller += 1;
                if c.caller > 1 {
                    return Err(format!("two refreshes outstanding at once for cache {key:?} at {} us ({})", r["time_us"], r["detail"]));
                }
            }
            "reply_received" => {
                c.caller = c.caller.checked_sub(1).ok_or_else(|| format!("a reply without a request for cache {key:?} at {} us", r["time_us"]))?
            }
            "try_timeout" | "deadline_passed" => {
                c.caller = c.caller.checked_sub(1).ok_or_else(|| format!("a timeout without a request for cache {key:?} at {} us", r["time_us"]))?;
                c.orphans += 1;
            }
            "orphan_reply" => c.orphans = c.orphans.saturating_sub(1),
            _ => {}
        }
        worst_server = worst_server.max(c.caller + c.orphans);
    }
    Ok(worst_server)
}

fn setting<'a>(case: &'a Case, path: &str) -> Option<&'a str> {
    case.settings.iter().rev().find(|(p, _)| p == path).map(|(_, v)| v.as_str())
}

proptest! {
    #![proptest_config(config())]

    /// Determinism, conservation, causality and no panic, over every variation.
    #[test]
    fn deterministic_conserving_time_ordered(case in variations(&[])) {
        let a = run_traced(&case)?;
        let b = run_traced(&case)?;
        if a.json != b.json || a.trace != b.trace || a.hash != b.hash {
            return Err(fail(&case, format!("two runs differ: summary equal {}, trace equal {} ({} vs {} bytes)", a.json == b.json, a.trace == b.trace, a.trace.len(), b.trace.len())));
        }
        prop_assert!(a.hash.is_some());
        conservation_and_causality(&a).map_err(|e| fail(&case, e))?;
    }

    /// Single-flight: never two refreshes of one cache outstanding at the caller.
    #[test]
    fn single_flight_refreshes_one_at_a_time(case in variations(&[("webhook.token_cache.refresh", "single-flight")])) {
        let t = run_traced(&case)?;
        let per_session = setting(&case, "webhook.token_cache.scope") == Some("session");
        single_flight(&t, per_session).map_err(|e| fail(&case, e))?;
    }

    /// Without rotation nothing can be reused, so nothing is detected or revoked.
    #[test]
    fn no_rotation_no_reuse(case in variations(&[("idp.rotation", "false")])) {
        let s = model().run(&case)?;
        let bad = [("rotations", s.rotations), ("reuse_detections", s.reuse_detections), ("reuse_allowed", s.reuse_allowed), ("grace_reuses", s.grace_reuses), ("lost_rotations", s.lost_rotations), ("family_revocations", s.family_revocations)];
        if let Some((k, v)) = bad.iter().find(|(_, v)| *v != 0) {
            return Err(fail(&case, format!("rotation is off but {k} = {v}")));
        }
    }

    /// Keys from the edge and a 24 h store: every invocation's side effect happens at most once.
    #[test]
    fn idempotency_keys_prevent_duplicates(case in variations(&[("edge.idempotency_keys", "true"), ("webhook.idempotency.enabled", "true"), ("webhook.idempotency.ttl", "24h")])) {
        let s = model().run(&case)?;
        if s.duplicate_side_effects != 0 {
            return Err(fail(&case, format!("duplicate_side_effects = {} with idempotency keys kept 24 h (by hop: {:?})", s.duplicate_side_effects, s.duplicates_by_hop)));
        }
    }

    /// Extreme settings: the run ends normally, every invocation ends.
    #[test]
    fn no_panic_at_extreme_settings(case in variations_of(extreme_knobs(), &[], 10.0)) {
        let s = model().run(&case)?;
        if s.invocations_unfinished != 0 {
            return Err(fail(&case, format!("{} of {} invocations never ended", s.invocations_unfinished, s.invocations)));
        }
    }
}

/// Liveness of the report: an org whose last invocations all ended 401 (stuck) is among
/// `orgs_needing_manual_reauth`. Returns the stuck orgs that are not reported.
fn unreported_stuck_orgs(t: &Traced) -> Vec<String> {
    let mut last: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in rows(&t.trace) {
        if r["event"] == "invocation_ended" {
            last.entry(r["org"].clone()).or_default().push(r["status"].clone());
        }
    }
    last.into_iter()
        .filter(|(_, v)| v.len() >= 3 && v[v.len() - 3..].iter().all(|s| s == "401"))
        .map(|(org, _)| org)
        .filter(|org| !t.summary.orgs_needing_manual_reauth.contains(org))
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// With reuse detection that refuses (without revoking), a lost rotation leaves the cache
    /// holding a refused refresh token: the org is stuck on 401 until a person re-authorizes, and
    /// the summary must report it as needing re-authorization (it once did not).
    #[test]
    fn stuck_orgs_are_reported(case in variations(&[("idp.reuse_detection", "reject"), ("idp.rotation", "true")])) {
        let t = run_traced(&case)?;
        let stuck = unreported_stuck_orgs(&t);
        if !stuck.is_empty() {
            return Err(fail(&case, format!("orgs {stuck:?} end on 401 but orgs_needing_manual_reauth = {:?}", t.summary.orgs_needing_manual_reauth)));
        }
    }
}

/// The seed incident with `reuse_detection = "reject"`: B's cache is stranded at 516 s; the
/// summary reports B as needing re-authorization and a person restores it.
#[test]
fn reject_mode_strands_org_b_unreported() {
    let m = crate::load("models/seed-incident.toml", &["idp.reuse_detection=reject"]);
    let buf = SharedBuf::default();
    let s = edgesim::run(m, RunOptions { trace: Some((Box::new(buf.clone()), TraceFormat::Csv)), ..Default::default() }).unwrap();
    let trace = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let t = Traced { json: String::new(), trace, hash: None, summary: s };
    assert_eq!(unreported_stuck_orgs(&t), Vec::<String>::new(), "orgs stuck on 401 but not reported as needing re-authorization");
}

/// The single-flight checker itself: on a concurrent-refresh variation that does overlap, it
/// must see two refreshes at once (so a passing single-flight property means something).
#[test]
fn single_flight_checker_sees_concurrent_refreshes() {
    let case = Case {
        seed: 1,
        load: Some(Milli(5000)),
        settings: vec![
            ("webhook.token_cache.refresh".into(), "concurrent".into()),
            ("idp.latency".into(), "2s".into()),
            ("idp.access_token_ttl".into(), "5s".into()),
            ("webhook.token_endpoint.timeout".into(), "20s".into()),
        ],
        ..Case::default()
    };
    let t = run_traced(&case).unwrap();
    let e = single_flight(&t, false).unwrap_err();
    assert!(e.contains("two refreshes outstanding"), "{e}");
}
