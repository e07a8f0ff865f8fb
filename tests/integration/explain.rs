//! Cascades explained: the seed incident's cascade has the expected root cause and consequences;
//! a healthy model has none; the DOT output parses; the Perfetto file is valid trace-event JSON
//! with every begin matched by an end.

use crate::load;
use edgesim::explain::{self, CascadeKind};
use edgesim::model::causes::CauseKind;
use edgesim::model::world::RunOptions;

fn explained(path: &str, overrides: &[&str]) -> (edgesim::model::metrics::Summary, edgesim::model::causes::CauseLog, Vec<String>) {
    let m = load(path, overrides);
    let orgs = m.orgs.iter().map(|o| o.name.clone()).collect();
    let (s, c) = edgesim::run_explained(m, RunOptions::default()).unwrap();
    (s, c, orgs)
}

#[test]
fn seed_incident_cascade_root_cause_and_consequences() {
    let (s, log, orgs) = explained("models/seed-incident.toml", &[]);
    let cs = explain::cascades(&log);
    assert_eq!(cs.len(), 1, "one revocation cascade");
    let c = &cs[0];
    assert!(c.kinds.contains(&CascadeKind::Revocation));
    let root = &log.graph[c.root];
    assert_eq!(root.kind, CauseKind::Timeout, "root cause: the webhook's refresh timed out");
    assert_eq!(log.component_name(root), Some("idp"));
    let kinds: Vec<CauseKind> = c.nodes.iter().map(|n| log.graph[*n].kind.clone()).collect();
    assert_eq!(
        kinds,
        vec![CauseKind::Timeout, CauseKind::LostRotation, CauseKind::ReuseDetected, CauseKind::FamilyRevoked, CauseKind::Unauthorized, CauseKind::ManualReauth],
        "the chain, in time order"
    );
    assert_eq!(c.orgs.iter().map(|o| orgs[*o as usize].as_str()).collect::<Vec<_>>(), vec!["B"]);
    let b = s.orgs.iter().find(|o| o.org == "B").unwrap();
    assert_eq!(c.invocations_affected, b.unauthorized_401, "every 401 of B belongs to the cascade");
    assert_eq!(s.cascades.revocation_cascades, 1);
    assert!(s.cascades.first_fault_to_first_revocation_s.unwrap() > 10.0);
    let text = explain::to_text(&log, &orgs, 5);
    assert!(text.contains("webhook gave up on its refresh to idp after 8s"), "{text}");
    assert!(text.contains("14 invocation(s) of org B answered 401"), "{text}");
}

#[test]
fn concurrent_refreshes_are_a_root_cause_too() {
    // Without the grace window, org A's burst of concurrent refreshes at its token's expiry
    // presents the same refresh token several times.
    let (_, log, _) = explained("models/seed-incident.toml", &["idp.grace=0"]);
    let cs = explain::cascades(&log);
    assert!(cs.iter().any(|c| log.graph[c.root].kind == CauseKind::ConcurrentRefresh), "a concurrency-rooted cascade");
}

#[test]
fn duplicates_trace_back_to_the_edge_retry_and_its_timeout() {
    let (s, log, _) = explained("models/edge-retries-duplicates.toml", &[]);
    let cs = explain::cascades(&log);
    assert_eq!(s.cascades.duplicate_cascades as usize, cs.len());
    let dups: u64 = cs.iter().map(|c| c.duplicates).sum();
    assert_eq!(dups, s.duplicate_side_effects, "every duplicate is in a cascade");
    for c in &cs {
        assert_eq!(log.graph[c.root].kind, CauseKind::Timeout);
        assert!(c.nodes.iter().any(|n| log.graph[*n].kind == CauseKind::Retry));
    }
}

#[test]
fn healthy_model_has_no_cascade() {
    let (s, log, orgs) = explained("models/healthy.toml", &[]);
    assert!(explain::cascades(&log).is_empty());
    assert_eq!(s.cascades, Default::default());
    assert!(explain::to_text(&log, &orgs, 5).starts_with("no cascade"));
}

#[test]
fn dot_output_parses() {
    let (_, log, orgs) = explained("models/seed-incident.toml", &[]);
    let dot = explain::to_dot(&log, &orgs, 5);
    let g = graphviz_rust::parse(&dot).unwrap_or_else(|e| panic!("DOT does not parse: {e}\n{dot}"));
    let text = format!("{g:?}");
    assert!(text.contains("family revoked"));
    assert_eq!(dot.matches("->").count(), 5, "six nodes in a chain: five edges");
}

#[test]
fn perfetto_file_is_valid_trace_event_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed.json");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_edgesim"))
        .args([
            "explain",
            crate::repo("models/seed-incident.toml").to_str().unwrap(),
            "--perfetto",
            out.to_str().unwrap(),
            "--dot",
            dir.path().join("g.dot").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    assert!(String::from_utf8_lossy(&st.stdout).contains("root cause"));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).expect("valid JSON");
    let events = v["traceEvents"].as_array().unwrap();
    assert!(events.len() > 10_000);
    let mut open = std::collections::BTreeMap::new();
    let mut names = std::collections::BTreeSet::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap();
        assert!(["M", "b", "e", "i"].contains(&ph), "unexpected phase {ph}");
        if ph != "M" {
            assert!(e["ts"].is_u64() && e["pid"].is_u64() && e["tid"].is_u64());
        }
        let key = (e["cat"].as_str().unwrap_or("").to_string(), e["id"].as_u64().unwrap_or(0));
        match ph {
            "b" => assert!(open.insert(key, e["ts"].as_u64().unwrap()).is_none(), "span id reused while open"),
            "e" => {
                let begin = open.remove(&key).expect("an end without a begin");
                assert!(e["ts"].as_u64().unwrap() >= begin, "a span ends before it begins");
            }
            "i" => {
                names.insert(e["name"].as_str().unwrap().to_string());
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "{} spans never end", open.len());
    for needed in ["refresh_token_rotated", "rotation_lost", "reuse_detected", "family_revoked", "manual_reauth"] {
        assert!(names.contains(needed), "no {needed} instant event");
    }
}
