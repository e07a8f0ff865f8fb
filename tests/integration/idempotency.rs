//! Idempotency keys, duplicate processing, async acknowledgement, request encoding.

use crate::load;
use edgesim::model::world::RunOptions;

fn run(path: &str, overrides: &[&str]) -> edgesim::model::metrics::Summary {
    edgesim::run(load(path, overrides), RunOptions::default()).unwrap()
}

const DUP: &str = "models/edge-retries-duplicates.toml";
const KEYS: [&str; 2] = ["edge.idempotency_keys=true", "webhook.idempotency.enabled=true"];

#[test]
fn edge_retries_without_keys_duplicate_side_effects() {
    let s = run(DUP, &[]);
    assert!(s.duplicate_side_effects > 10, "{} duplicates", s.duplicate_side_effects);
    // Every duplicate is attributed to the hop whose retry sent the copy: the edge.
    assert_eq!(s.duplicates_by_hop.get("edge").copied().unwrap_or(0), s.duplicate_side_effects, "{:?}", s.duplicates_by_hop);
}

/// With keys on and a TTL longer than the longest retry horizon (the edge's 30 s deadline), no
/// seed produces a duplicate. 30 seeds x ~3000 invocations, each seed with dozens of duplicates
/// when keys are off: a leak in the store would show.
#[test]
fn keys_with_long_ttl_never_duplicate() {
    for seed in 1..=30u64 {
        let m = load(DUP, &[KEYS[0], KEYS[1], "simulation.duration=2m"]);
        let s = edgesim::run(m, RunOptions { seed: Some(seed), ..Default::default() }).unwrap();
        assert_eq!(s.duplicate_side_effects, 0, "seed {seed}");
        assert!(s.idempotency.conflicts + s.idempotency.replays > 0, "seed {seed}: the store must have seen retries");
    }
}

/// A TTL shorter than the gap between a try and its retry (2 s per-try timeout) forgets the
/// key: duplicates come back.
#[test]
fn short_ttl_lets_duplicates_through() {
    let s = run(DUP, &[KEYS[0], KEYS[1], "webhook.idempotency.ttl=500ms"]);
    assert!(s.duplicate_side_effects > 0);
    assert!(s.idempotency.expirations > 0);
}

/// A store too small for the traffic evicts keys; evicted keys execute again.
#[test]
fn eviction_shows_in_metrics_and_duplicates() {
    let s = run(DUP, &[KEYS[0], KEYS[1], "webhook.idempotency.capacity=3"]);
    assert!(s.idempotency.evictions > 100);
    assert!(s.duplicate_side_effects > 0);
    let r = run(DUP, &[KEYS[0], KEYS[1], "webhook.idempotency.capacity=3", "webhook.idempotency.eviction=reject"]);
    assert!(r.idempotency.store_full > 0);
    assert!(r.outcomes.get("503").copied().unwrap_or(0) > 0);
}

/// Keys without a store at the service change nothing.
#[test]
fn keys_alone_do_not_help() {
    let without = run(DUP, &[]);
    let keys_only = run(DUP, &[KEYS[0]]);
    assert_eq!(without.duplicate_side_effects, keys_only.duplicate_side_effects);
}

/// Same key, different body (a client that rebuilds its body on each try): 422.
#[test]
fn same_key_other_payload_gets_422() {
    let s = run(
        DUP,
        &[
            "webhook.idempotency.enabled=true",
            "workload[0].client.idempotency_keys=true",
            "workload[0].client.new_payload_on_retry=true",
            "workload[0].client.retry.max_attempts=3",
            "workload[0].client.timeout=1s",
        ],
    );
    assert!(s.idempotency.mismatches > 0);
    assert!(s.outcomes.get("422").copied().unwrap_or(0) > 0);
}

#[test]
fn async_ack_in_memory_queue_loses_jobs_on_restart_durable_does_not() {
    let mem = run("models/async-ack-restart.toml", &[]);
    assert_eq!(mem.restarts, 1);
    assert!(mem.async_work.acknowledged > 5000);
    assert!(mem.async_work.lost > 0, "in-memory queue loses what was pending");
    assert!(mem.async_work.completion_lag.count > 0);
    assert!(mem.async_work.completion_lag.p50_ms > 0.0);
    let durable = run("models/async-ack-restart.toml", &["webhook.background.durable=true"]);
    assert_eq!(durable.async_work.lost, 0);
    assert!(durable.async_work.completed > mem.async_work.completed);
    // What the caller can no longer know: every acknowledged invocation reported 200.
    assert_eq!(
        mem.outcomes.get("200").copied().unwrap_or(0) + mem.outcomes.get("reset").copied().unwrap_or(0) + mem.outcomes.get("502").copied().unwrap_or(0),
        mem.invocations
    );
}

#[test]
fn json_refresh_behind_strict_proxy_fails_form_does_not() {
    let json = run("models/json-refresh-strict-proxy.toml", &[]);
    assert!(json.encoding_rejections > 0);
    assert!(json.outcomes.get("502").copied().unwrap_or(0) > 0);
    let form = run("models/json-refresh-strict-proxy.toml", &["webhook.token_cache.encoding=form"]);
    assert_eq!(form.encoding_rejections, 0);
    assert_eq!(form.success_rate, 1.0);
    // Through a plain proxy, the token endpoint itself refuses JSON (400 invalid_request) and
    // the webhook reports its upstream failure.
    let m = load("models/json-refresh-strict-proxy.toml", &[]);
    let mut m2 = m.clone();
    if let Some(edgesim::model::config::ComponentConfig::Proxy(p)) = m2.components.get_mut("apim") {
        p.reject_json_status = None;
    }
    let endpoint = edgesim::run(m2, RunOptions::default()).unwrap();
    assert!(endpoint.encoding_rejections > 0);
    assert!(endpoint.outcomes.get("502").copied().unwrap_or(0) > 0);
}
