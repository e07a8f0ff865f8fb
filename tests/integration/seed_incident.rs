//! The seed incident reproduces its sequence: org A fine; org B's refresh returns 502 to the edge
//! although the token endpoint rotated the token; the next refresh reuses the old token; the
//! family is revoked; B gets 401 until the manual re-authorization. Asserted on the trace events,
//! in order, not only on totals.

use super::determinism::run_traced;
use crate::load;

struct Row {
    t: u64,
    event: String,
    component: String,
    org: String,
    invocation: String,
    status: String,
}

fn parse(trace: &str) -> Vec<Row> {
    let mut r = csv::Reader::from_reader(trace.as_bytes());
    r.records()
        .map(|x| {
            let x = x.unwrap();
            Row { t: x[0].parse().unwrap(), event: x[1].into(), component: x[2].into(), org: x[3].into(), invocation: x[5].into(), status: x[7].into() }
        })
        .collect()
}

#[test]
fn seed_incident_sequence() {
    let (summary, trace) = run_traced(load("models/seed-incident.toml", &[]), None);
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let rows = parse(&trace);
    let b: Vec<&Row> = rows.iter().filter(|r| r.org == "B").collect();

    // 1. B's refresh times out at the webhook's client (8 s) ...
    let timeout = b.iter().position(|r| r.event == "try_timeout" && r.component == "idp").expect("B's refresh timed out");
    let victim = b[timeout].invocation.clone();
    // ... and the edge answers that invocation with 502.
    let ended_502 = b.iter().position(|r| r.event == "invocation_ended" && r.invocation == victim).unwrap();
    assert_eq!(b[ended_502].status, "502");
    // 2. The token endpoint still rotates the refresh token for that same request, after the
    //    caller gave up, and the new pair never reaches the cache.
    let rotated = b.iter().position(|r| r.event == "refresh_token_rotated" && r.invocation == victim).expect("orphaned rotation");
    assert!(b[rotated].t > b[timeout].t);
    let lost = b.iter().position(|r| r.event == "rotation_lost").unwrap();
    assert!(lost > rotated);
    // 3. The next refresh presents the old token: reuse, family revoked.
    let reuse = b.iter().position(|r| r.event == "reuse_detected").unwrap();
    assert!(reuse > lost);
    assert_ne!(b[reuse].invocation, victim, "the reuse comes from a later invocation");
    let revoked = b.iter().position(|r| r.event == "family_revoked").unwrap();
    assert!(revoked >= reuse);
    // 4. 401 until the manual re-authorization, and success after it.
    let reauth = b.iter().position(|r| r.event == "manual_reauth").expect("re-authorized within the run");
    let between: Vec<&&Row> = b[revoked..reauth].iter().filter(|r| r.event == "invocation_ended").collect();
    assert!(between.len() >= 5, "several invocations fail while revoked");
    assert!(between.iter().all(|r| r.status == "401"), "every B invocation between revocation and re-auth gets 401");
    let after = b[reauth..].iter().find(|r| r.event == "invocation_ended").unwrap();
    assert_eq!(after.status, "200", "B works again after re-authorization");

    // Org A is fine throughout.
    assert!(rows.iter().filter(|r| r.org == "A" && r.event == "invocation_ended").all(|r| r.status == "200"));
    assert!(!rows.iter().any(|r| r.org == "A" && (r.event == "family_revoked" || r.event == "reuse_detected")));

    // The summary agrees.
    assert_eq!(s["family_revocations"], 1);
    assert_eq!(s["orgs_needing_manual_reauth"], serde_json::json!(["B"]));
    let orgs = s["orgs"].as_array().unwrap();
    assert_eq!(orgs[0]["unauthorized_401"], 0);
    assert!(orgs[1]["unauthorized_401"].as_u64().unwrap() >= 5);
    assert!(orgs[1]["seconds_revoked"].as_f64().unwrap() > 590.0);
}

/// The same incident with a grace window longer than B's gap between calls does not revoke.
#[test]
fn long_grace_window_prevents_the_revocation() {
    let (summary, _) = run_traced(load("models/seed-incident.toml", &["idp.grace=120s"]), None);
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["family_revocations"], 0);
    assert!(s["grace_reuses"].as_u64().unwrap() >= 1);
}

/// A token-client timeout longer than the slowest refresh: nothing is lost, nothing revoked.
#[test]
fn token_client_timeout_above_refresh_latency_prevents_it() {
    let (summary, _) = run_traced(load("models/seed-incident.toml", &["webhook.token_endpoint.timeout=60s"]), None);
    let s: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(s["lost_rotations"], 0);
    assert_eq!(s["family_revocations"], 0);
}
