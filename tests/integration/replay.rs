//! `edgesim replay`: the shipped incidents replay to pinned traces with high fidelity; what-ifs
//! change what they should; bundles verify and tampered bundles do not; malformed incident files
//! are refused with located errors, credentials never get through.

use crate::repo;
use edgesim::replay::bundle;
use edgesim::replay::incident::{self, Incident, LoadOptions, RowOptions};
use edgesim::replay::{self, ReplayError, WhatIf};

fn load_incident(name: &str, opts: &LoadOptions) -> Incident {
    incident::load(&repo(&format!("models/incidents/{name}.toml")), opts).unwrap_or_else(|e| panic!("{}", ReplayError::from(e)))
}

fn what_ifs(list: &[&str]) -> Vec<WhatIf> {
    list.iter().map(|w| WhatIf::parse(w).unwrap()).collect()
}

// Golden trace hashes (blake3 of the baseline replay's CSV trace) of the shipped incidents.
// They pin the model's behaviour on recorded arrivals: a change to any component model, the
// trace format, the random streams or the incident files moves them. Such a change must be
// deliberate: check the replay report (fidelity, what-ifs) still tells the same story, then
// update the hash here and say why in the commit message.
const SEED_INCIDENT_TRACE: &str = "62d92a088e9fbb8590b71489970d5a7ee87f01b5421b2aa11223bf8497bc0a91";
const RETRY_STORM_TRACE: &str = "4a3dac446f08e8e849bcd347b96704506d4893f59a0d0b238cb829e49b4de733";

#[test]
fn golden_trace_hashes_of_the_shipped_incidents() {
    for (name, golden) in [("seed-incident", SEED_INCIDENT_TRACE), ("retry-storm", RETRY_STORM_TRACE)] {
        let inc = load_incident(name, &LoadOptions::default());
        let r = replay::replay(&inc, None, &[]).unwrap();
        assert_eq!(r.report.baseline.trace_hash, golden, "{name}: the replay's trace changed; if deliberate, update the golden hash (see the comment above)");
        assert_eq!(blake3::hash(r.baseline_trace.as_bytes()).to_hex().to_string(), golden, "{name}: the summary's hash is the trace's blake3");
    }
}

/// The seed incident's observations were exported from a run of models/seed-incident.toml with
/// millisecond timestamps, as an SRE export has them. The model explains them: the replay must
/// reproduce at least 99 % of the statuses. Not 100 % by necessity: rounding arrivals to the
/// millisecond can reorder events a few microseconds apart and give a component's random draws
/// to other requests. It happens to be 100 % today. Below 99 % the model no longer explains the
/// incident (it would take a few dozen changed statuses, while the whole incident is 15
/// non-200 answers), so the signature of the incident is also checked exactly: org B's statuses
/// in order, 200 x 11, one 502, 401 x 14 until the re-authorization, 200 after.
#[test]
fn seed_incident_is_reproduced_with_high_fidelity() {
    let inc = load_incident("seed-incident", &LoadOptions::default());
    let r = replay::replay(&inc, None, &[]).unwrap().report;
    let f = &r.fidelity;
    assert_eq!(f.recorded, 2756);
    assert_eq!(f.unmatched, 0, "every recorded invocation has its simulated counterpart");
    assert!(f.rate >= 0.99, "fidelity {:.4} below 0.99: {:?}", f.rate, f.mismatches);
    let b = f.by_org.iter().find(|o| o.org == "B").unwrap();
    assert_eq!(b.reproduced, b.recorded, "org B's 502 and 401s are the incident: all must be reproduced");
    assert!(f.by_minute.iter().all(|m| m.reproduced as f64 >= 0.95 * m.recorded as f64), "no minute falls below 95 %");
    assert!(f.latency.within_tolerance as f64 >= 0.95 * f.latency.compared as f64, "latencies within 10 % or 5 ms");
    assert!(r.baseline.revocation && r.baseline.unauthorized_401 == 14);

    // The recorded arrivals are replayed exactly: same times (to the microsecond the file holds)
    // and sessions, in order.
    let rep = replay::replay(&inc, None, &[]).unwrap();
    let (_, invs) = replay::run::parse_trace(&rep.baseline_trace);
    assert_eq!(invs.len(), inc.observations.rows.len());
    let mut sim: Vec<(u64, String, u32)> = invs.iter().map(|i| (i.started_us, i.org.clone(), i.session)).collect();
    let mut rec: Vec<(u64, String, u32)> = inc.observations.rows.iter().map(|r| (r.time.micros(), r.org.clone(), r.session)).collect();
    sim.sort();
    rec.sort();
    assert_eq!(sim, rec);
}

/// The retry storm's export has millisecond timestamps too, and here rounding matters: which
/// of 200 near-simultaneous refreshes get one of the rate limiter's 5 tokens per second depends
/// on their order. 98 % today (two pairs of calls swap outcomes); 95 % is the floor. Its fault
/// window (a slow IdP) is needed to explain the latencies: without it they fit far worse.
#[test]
fn retry_storm_fidelity_and_its_fault_window() {
    let inc = load_incident("retry-storm", &LoadOptions::default());
    let r = replay::replay(&inc, None, &[]).unwrap().report;
    assert!(r.fidelity.rate >= 0.95, "fidelity {}", r.fidelity.rate);
    assert_eq!(r.faults, 1);
    let d = r.fidelity.first_divergence.as_ref().expect("ms rounding makes some divergence");
    assert!(!d.context.is_empty() && d.context.iter().any(|l| l.contains("invocation_ended")), "the divergence shows the trace around it");

    let mut no_fault = inc.clone();
    no_fault.header.faults = Some(vec![]);
    let r2 = replay::replay(&no_fault, None, &[]).unwrap().report;
    // Only the 15 successful calls feel the slow IdP (a refused call fails in 100 ms either way).
    assert!(
        r2.fidelity.latency.within_tolerance < r.fidelity.latency.within_tolerance,
        "without the fault window the latencies should fit worse: {} vs {}",
        r2.fidelity.latency.within_tolerance,
        r.fidelity.latency.within_tolerance
    );
    let p99 = |r: &replay::ReplayReport| (r.fidelity.by_org[0].observed_p99_ms.unwrap(), r.fidelity.by_org[0].simulated_p99_ms.unwrap());
    let (obs, with) = p99(&r);
    let (_, without) = p99(&r2);
    assert!((with - obs).abs() <= 0.05 * obs, "with the fault window p99 {with} ms fits the observed {obs} ms");
    assert!(without < 0.7 * obs, "without it p99 {without} ms is far below the observed {obs} ms");

    // The cure from models/retry-storm.toml serves every call on the same arrivals.
    let w = replay::replay(
        &inc,
        None,
        &what_ifs(&["webhook.token_endpoint.retry.honour_retry_after=true,webhook.token_endpoint.retry.backoff.strategy=full-jitter"]),
    )
    .unwrap()
    .report;
    assert!(w.what_ifs[0].success_rate > 0.99, "{}", w.what_ifs[0].success_rate);
}

/// Which single change would have prevented the seed incident, and which would not.
#[test]
fn seed_incident_what_ifs() {
    let inc = load_incident("seed-incident", &LoadOptions::default());
    let r = replay::replay(
        &inc,
        None,
        &what_ifs(&[
            "webhook.token_cache.refresh=single-flight,idp.grace=60s",
            "webhook.token_endpoint.timeout=60s",
            "idp.grace=120s",
            "edge.deadline=30s",
            "webhook.token_cache.refresh=single-flight",
        ]),
    )
    .unwrap()
    .report;
    let by = |label: &str| r.what_ifs.iter().find(|o| o.label == label).unwrap();
    let b_401 = |o: &replay::Outcome| o.orgs.iter().find(|x| x.org == "B").unwrap().unauthorized_401;
    assert!(r.baseline.revocation);
    assert_eq!(b_401(&r.baseline), 14);

    // Single-flight refresh plus a grace window: no revocation, no 401 for B.
    let sf = by("webhook.token_cache.refresh=single-flight,idp.grace=60s");
    assert!(!sf.revocation, "single-flight + grace must prevent the revocation");
    assert_eq!(sf.family_revocations, 0);
    assert_eq!(b_401(sf), 0);
    // A long enough client timeout towards the token endpoint: no lost rotation at all.
    let t = by("webhook.token_endpoint.timeout=60s");
    assert!(!t.revocation && t.lost_rotations == 0 && b_401(t) == 0);
    // A grace window longer than B's gap between calls absorbs the reuse.
    assert!(!by("idp.grace=120s").revocation);
    // The thread's advice (edge deadline 30 s) changes nothing, to the byte.
    assert_eq!(by("edge.deadline=30s").trace_hash, r.baseline.trace_hash);
    // Single-flight alone only delays the revocation.
    assert!(by("webhook.token_cache.refresh=single-flight").revocation);
}

fn seed_bundle(what_ifs_list: &[&str]) -> (Incident, String) {
    let inc = load_incident("seed-incident", &LoadOptions::default());
    let r = replay::replay(&inc, None, &what_ifs(what_ifs_list)).unwrap();
    let b = bundle::make(&inc, &r.report);
    assert!(!b.model.text.is_empty() && !b.model.text.starts_with("models/"), "the model is inline");
    (inc, bundle::to_json(&b))
}

#[test]
fn bundle_verifies_and_tampering_fails() {
    let (_, json) = seed_bundle(&["idp.grace=120s"]);
    let v = bundle::verify(&json, "b.json").unwrap();
    assert_eq!(v.trace_hash, SEED_INCIDENT_TRACE);
    assert_eq!(v.what_ifs.len(), 1);

    let mut b: bundle::Bundle = serde_json::from_str(&json).unwrap();
    let edit = |f: &dyn Fn(&mut bundle::Bundle)| {
        let mut x = b.clone();
        f(&mut x);
        bundle::verify(&bundle::to_json(&x), "b.json").unwrap_err()
    };
    // Model text changed, hash not updated: caught before running.
    let e = edit(&|x| x.model.text = x.model.text.replace("timeout = \"8s\"", "timeout = \"60s\""));
    assert!(matches!(e, ReplayError::Mismatch(_)) && e.to_string().contains("model text does not match its blake3"), "{e}");
    assert_eq!(e.exit_code(), 1);
    // Rows changed, hash not updated.
    let e = edit(&|x| x.rows.text = x.rows.text.replacen(",401,", ",200,", 1));
    assert!(e.to_string().contains("incident rows does not match its blake3"), "{e}");
    // Model changed and its hash updated: the traces no longer match.
    let e = edit(&|x| {
        x.model.text = x.model.text.replace("timeout = \"8s\"", "timeout = \"60s\"");
        x.model.blake3 = blake3::hash(x.model.text.as_bytes()).to_hex().to_string();
    });
    assert!(e.to_string().contains("does not reproduce") && e.to_string().contains("baseline: trace blake3"), "{e}");
    // A claimed hash that is not the real one.
    let e = edit(&|x| x.what_ifs[0].trace_hash = "0".repeat(64));
    assert!(e.to_string().contains("what-if idp.grace=120s"), "{e}");
    // Not a bundle at all.
    b.format = "something-else".into();
    assert!(matches!(bundle::verify(&bundle::to_json(&b), "b.json").unwrap_err(), ReplayError::Bundle(_)));
}

/// The command line: `--bundle` then `--verify` exits 0 and prints the hash; a tampered bundle
/// exits 1 with a message saying so.
#[test]
fn verify_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seed.bundle.json");
    let exe = env!("CARGO_BIN_EXE_edgesim");
    let run = std::process::Command::new(exe)
        .args([
            "replay",
            repo("models/incidents/seed-incident.toml").to_str().unwrap(),
            "--what-if",
            "webhook.token_cache.refresh=single-flight,idp.grace=60s",
            "--bundle",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let ok = std::process::Command::new(exe).args(["replay", "--verify", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains(SEED_INCIDENT_TRACE));

    let text = std::fs::read_to_string(&out).unwrap();
    let mut b: serde_json::Value = serde_json::from_str(&text).unwrap();
    let rows = b["rows"]["text"].as_str().unwrap().replacen(",502,", ",200,", 1);
    b["rows"]["text"] = rows.into();
    std::fs::write(&out, serde_json::to_string_pretty(&b).unwrap()).unwrap();
    let bad = std::process::Command::new(exe).args(["replay", "--verify", out.to_str().unwrap()]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("verification FAILED"), "{}", String::from_utf8_lossy(&bad.stderr));
}

// ---- malformed incident files ----

const HEADER: &str = "model = \"../seed-incident.toml\"\nobservations = \"x.csv\"\ntime_zero = \"2024-05-14T09:00:00Z\"\nduration = \"20m\"\n";

fn with_rows(csv: &str, opts: RowOptions) -> Result<Incident, ReplayError> {
    let header = incident::parse_header(HEADER, "x.toml").unwrap();
    let model_text = std::fs::read_to_string(repo("models/seed-incident.toml")).unwrap();
    incident::from_texts("x".into(), "x.toml".into(), HEADER.into(), header, "models/seed-incident.toml".into(), model_text, "x.csv".into(), csv, opts)
        .map_err(ReplayError::from)
}

const COLS: &str = "time_s,org,session,operation,status,latency_ms\n";

fn err_text(csv: &str, opts: RowOptions) -> String {
    match with_rows(csv, opts) {
        Ok(_) => panic!("accepted: {csv}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2, "bad input exits 2");
            e.to_string()
        }
    }
}

#[test]
fn bad_time_is_located() {
    let e = err_text(&format!("{COLS}1.0,A,0,call,200,10\n2.x,A,0,call,200,10\n"), RowOptions::default());
    assert!(e.starts_with("x.csv:3:1: error in `time_s`: `2.x` is not a decimal number"), "{e}");
    let e = err_text(&format!("{COLS}1.0,A,0,call,200,10\n1300,A,0,call,200,10\n"), RowOptions::default());
    assert!(e.starts_with("x.csv:3:1: error in `time_s`") && e.contains("outside the observation window"), "{e}");
}

#[test]
fn unknown_org_is_located() {
    let e = err_text(&format!("{COLS}1.0,A,0,call,200,10\n2.0,Z,0,call,200,10\n"), RowOptions::default());
    assert!(e.starts_with("x.csv:3:5: error in `org`: unknown org `Z`"), "{e}");
    assert!(e.contains("orgs in the model: A, B, C"), "{e}");
    let e = err_text(&format!("{COLS}1.0,B,3,call,200,10\n"), RowOptions::default());
    assert!(e.starts_with("x.csv:2:7: error in `session`") && e.contains("has 1 session"), "{e}");
}

#[test]
fn out_of_order_is_located() {
    let e = err_text(&format!("{COLS}1.0,A,0,call,200,10\n5.0,A,0,call,200,10\n4.999,A,0,call,200,10\n"), RowOptions::default());
    assert!(e.starts_with("x.csv:4:1: error in `time_s`: 4.999 s is earlier than line 3 (5.0 s)"), "{e}");
}

#[test]
fn credentials_are_refused_and_redact_blanks_them() {
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJvcmctQiIsImV4cCI6MTcxNTY3NzIwMH0.c2lnbmF0dXJlLW5vdC1yZWFs";
    let csv = format!("{COLS}1.0,A,0,call,200,10\n2.0,B,0,{jwt},502,8000\n");
    let e = err_text(&csv, RowOptions::default());
    assert!(e.starts_with("x.csv:3:9: error in `operation`: the value looks like a JWT"), "{e}");
    assert!(!e.contains(jwt) && !e.contains("eyJhbGciOiJSUzI1"), "the error never echoes the credential");
    // --lenient does not skip a credential: it is not a bad row, it must not be in the file.
    assert!(err_text(&csv, RowOptions { lenient: true, redact: false }).contains("looks like a JWT"));
    // Bearer in an extra column, and a credential-named column.
    let e = err_text("time_s,org,status,note\n1.0,A,200,Bearer abc123def456ghi\n", RowOptions::default());
    assert!(e.starts_with("x.csv:2:11: error in `note`: the value holds a Bearer credential"), "{e}");
    let e = err_text("time_s,org,status,refresh_token\n1.0,A,200,r-1\n", RowOptions::default());
    assert!(e.starts_with("x.csv:1:19: error in `refresh_token`: column `refresh_token` is named like a credential"), "{e}");

    // --redact: blanked, counted, and nowhere in the replay's outputs.
    let csv = format!("time_s,org,session,operation,status,latency_ms,authorization\n1.0,A,0,{jwt},200,10,Bearer abc123def456ghi\n2.0,B,0,call,200,10,\n");
    let inc = with_rows(&csv, RowOptions { redact: true, lenient: false }).unwrap();
    assert_eq!(inc.observations.redacted, 2);
    assert_eq!(inc.observations.rows[0].operation, "[redacted]");
    let r = replay::replay(&inc, None, &[]).unwrap();
    let json = bundle::to_json(&bundle::make(&inc, &r.report));
    let report = serde_json::to_string(&r.report).unwrap() + &replay::report::to_text(&r.report);
    for out in [&json, &report, &r.baseline_trace] {
        assert!(!out.contains("eyJhbGci") && !out.contains("abc123def456ghi") && !out.contains("Bearer"), "a credential reached an output");
    }
    // Header values are checked too (and never redacted: a header is written by hand).
    let h = format!("{HEADER}description = \"ticket: Authorization: Bearer abc123def456ghi\"\n");
    let e = incident::parse_header(&h, "x.toml").unwrap_err().to_string();
    assert!(e.starts_with("x.toml:5:15: error in `description`") && !e.contains("abc123"), "{e}");
}

#[test]
fn lenient_skips_and_counts_bad_rows() {
    let csv = format!("{COLS}1.0,A,0,call,200,10\nnope,A,0,call,200,10\n2.0,Z,0,call,200,10\n3.0,A,0,call,teapot,10\n2.5,A,0,call,200,10\n0.5,A,0,call,200,10\n4.0,C,1,call,200,\n");
    let strict = err_text(&csv, RowOptions::default());
    // Strict mode reports every bad row; line 6 is out of order against line 5, whose time is
    // fine although its status is not.
    assert_eq!(strict.matches("error in").count(), 5, "{strict}");
    assert!(strict.contains("x.csv:6:1: error in `time_s`: 2.5 s is earlier than line 5"), "{strict}");
    let inc = with_rows(&csv, RowOptions { lenient: true, redact: false }).unwrap();
    assert_eq!(inc.observations.rows.len(), 3);
    assert_eq!(inc.observations.skipped.len(), 4);
    assert!(inc.observations.skipped[3].to_string().starts_with("x.csv:7:1: error in `time_s`"), "out of order against the last row kept");
    let r = replay::replay(&inc, None, &[]).unwrap().report;
    assert_eq!((r.recorded, r.skipped), (3, 4));
}

#[test]
fn bad_headers_are_located() {
    let e = incident::parse_header(&HEADER.replace("2024-05-14T09:00:00Z", "yesterday"), "x.toml").unwrap_err().to_string();
    assert!(e.starts_with("x.toml:3:13: error in `time_zero`"), "{e}");
    let e = incident::parse_header(&format!("{HEADER}sead = 3\n"), "x.toml").unwrap_err().to_string();
    assert!(e.starts_with("x.toml:5:1: error in `sead`") && e.contains("unknown field"), "{e}");
    let e = incident::parse_header(&format!("{HEADER}[[fault]]\nkind = \"slow\"\ncomponent = \"idp\"\nstart = \"1s\"\nend = \"2s\"\n"), "x.toml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("x.toml:5:") && e.contains("factor"), "{e}");
}

#[test]
fn what_if_arguments() {
    let w = WhatIf::parse("webhook.token_cache.refresh=single-flight, idp.grace=60s").unwrap();
    assert_eq!(w.overrides.len(), 2);
    let w = WhatIf::parse("idp.latency={ dist = \"uniform\", low = \"1s\", high = \"2s\" },edge.deadline=30s").unwrap();
    assert_eq!(w.overrides.len(), 2);
    assert!(WhatIf::parse("idp.grace").is_err());
    assert!(WhatIf::parse("idp.latency={ dist = \"uniform\"").is_err());
    // A what-if naming no field is a model error that names the what-if.
    let inc = load_incident("seed-incident", &LoadOptions::default());
    let e = replay::replay(&inc, None, &what_ifs(&["idp.graze=60s"])).err().expect("refused");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("with --what-if `idp.graze=60s`"), "{e}");
}

/// The `trace` arrivals kind is validated like the others.
#[test]
fn trace_arrivals_are_validated() {
    let model = |arrivals: &str| {
        format!(
            "[simulation]\nduration = \"1m\"\n[[org]]\nname = \"A\"\nsessions = 2\n[components.svc]\nkind = \"service\"\nworkers = 1\nservice_time = \"10ms\"\n[[workload]]\norg = \"A\"\ntarget = \"svc\"\narrivals = {arrivals}\n"
        )
    };
    let ok = edgesim::scenario::load_str(&model("{ kind = \"trace\", times = [\"1s\", \"1.5s\"], sessions = [0, 1] }"), "t.toml", &[]).unwrap();
    let s = edgesim::run(ok, Default::default()).unwrap();
    assert_eq!(s.invocations, 2);
    let e = edgesim::scenario::load_str(&model("{ kind = \"trace\", times = [\"2s\", \"1s\"] }"), "t.toml", &[]).unwrap_err();
    assert!(e.path == "workload[0].arrivals.times[1]" && e.message.contains("must not decrease"), "{e}");
    let e = edgesim::scenario::load_str(&model("{ kind = \"trace\", times = [\"1s\"], sessions = [2] }"), "t.toml", &[]).unwrap_err();
    assert!(e.message.contains("has 2 sessions"), "{e}");
}
