//! Property checks: `edgesim check` (exit statuses, shrinking, the replay command, JUnit, the
//! `[check]` table) and the `edgesim::testing` API, with a worked example of a user's own
//! proptest against a model.

use crate::repo;
use edgesim::check::{CheckOptions, Checker, Property, RawSpace, Verdict};
use edgesim::testing::{self, Case, FaultKind, Milli, TestModel};
use proptest::prelude::*;
use std::process::{Command, Output};

// ---------------------------------------------------------------------------------------------
// The worked example: what a user writes in their own repository.

/// A user's property test: the fixed seed-incident model must never revoke a token family or
/// leave an org needing re-authorization, across the ranges its `[check]` table declares (seeds,
/// load x0.5-x3, bursts of up to 200, the token endpoint up to 2.5 times slower for up to a
/// minute). A failing case shrinks, fails with its `edgesim run ...` replay line, and proptest
/// keeps it in `tests/proptest-regressions/check.txt` so it runs first next time.
mod worked_example {
    use super::*;

    fn model() -> &'static TestModel {
        static M: std::sync::OnceLock<TestModel> = std::sync::OnceLock::new();
        M.get_or_init(|| TestModel::load("models/check-seed-fixed.toml").unwrap())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn fixed_seed_incident_never_revokes(case in model().cases()) {
            let summary = model().check(&case, "no-family-revocation")?;
            testing::assert_property(&summary, "no-manual-reauth")?;
            testing::assert_property(&summary, "orgs.*.unauthorized_401 == 0 && latency.p99_ms < 60000")?;
        }

        /// Strategies compose by hand too: here a load and a webhook error window on the healthy
        /// baseline; duplicates cannot happen without retries at the edge.
        #[test]
        fn healthy_baseline_has_no_duplicates(
            seed in testing::seeds(1, 1_000_000),
            load in testing::load(0.5, 3.0),
            fault in testing::fault_window(&testing::FaultRange {
                component: "webhook".into(),
                kind: FaultKind::Errors,
                intensity: (Milli(0), Milli(500)),
                start: (edgesim::engine::SimDuration::ZERO, edgesim::engine::SimDuration::from_secs(1200)),
                length: (edgesim::engine::SimDuration::ZERO, edgesim::engine::SimDuration::from_secs(120)),
            }),
        ) {
            let case = Case { seed, load: Some(load), fault: Some(fault), ..Case::default() };
            let summary = testing::run_case("models/healthy.toml", &case);
            testing::assert_property(&summary, "no-duplicate-side-effects")?;
            testing::assert_property(&summary, "family_revocations == 0")?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The library: checker, shrinking, replay.

fn incident_checker() -> Checker {
    let ranges = RawSpace {
        seeds: Some((1, 1000)),
        load: Some((Milli(500), Milli(3000))),
        fault_target: Some(("idp".into(), FaultKind::Slow)),
        fault_intensity: Some((Milli(1000), Milli(20_000))),
        fault_length: Some((edgesim::engine::SimDuration::ZERO, edgesim::engine::SimDuration::from_secs(60))),
        properties: vec!["no-family-revocation".into()],
        ..Default::default()
    };
    Checker::from_file(&repo("models/seed-incident.toml"), &[], ranges).unwrap()
}

/// The seed incident revokes B's family whatever the load and the fault: shrinking takes every
/// range to its low end, and the printed command replays the violation.
#[test]
fn shrinks_to_the_low_end_and_the_replay_reproduces_the_violation() {
    let checker = incident_checker();
    let opts = CheckOptions { cases: 16, seed: 0, max_shrink_iters: 256 };
    let reports = checker.check_all(&opts, |_| {});
    let Verdict::Violated { case, reason, .. } = &reports[0].verdict else { panic!("{:?}", reports[0].verdict) };
    assert!(reason.contains("family_revocations = "), "{reason}");
    assert_eq!(case.load, Some(Milli(500)), "load shrinks to its lowest multiplier: {case}");
    assert!(case.fault.as_ref().unwrap().length.is_zero(), "the fault shrinks away: {case}");
    assert_eq!(case.fault.as_ref().unwrap().intensity, Milli(1000), "the factor shrinks to 1: {case}");

    // The replay command, run as a user would run it.
    let replay = checker.replay_command(case);
    assert!(replay.starts_with(&format!("edgesim run {} --seed {}", repo("models/seed-incident.toml").display(), case.seed)), "{replay}");
    let words = shell_words(&replay);
    let out = edgesim_cmd(&words[1..], &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(s["family_revocations"].as_u64().unwrap() >= 1, "the replay reproduces the revocation");

    // Same check, same seed: the same report, byte for byte.
    let again = checker.check_all(&opts, |_| {});
    assert_eq!(edgesim::check::runner::render(&checker, &opts, &reports), edgesim::check::runner::render(&checker, &opts, &again));
}

/// A case with a fault appended to a model that has none replays exactly (the whole fault list
/// is given again), and a case that varies a fault of the model overrides its fields.
#[test]
fn case_overrides_replay_the_same_model() {
    let checker = incident_checker();
    let case = Case {
        seed: 3,
        load: Some(Milli(1500)),
        fault: Some(testing::FaultCase {
            component: "idp".into(),
            kind: FaultKind::Slow,
            start: edgesim::engine::SimDuration::from_secs(60),
            length: edgesim::engine::SimDuration::from_secs(15),
            intensity: Milli(10_000),
        }),
        settings: vec![("idp.grace".into(), "45s".into())],
        ..Case::default()
    };
    let ov = checker.overrides(&case).unwrap();
    let text: Vec<String> = ov.iter().map(|o| format!("{}={}", o.path, o.value)).collect();
    assert!(text.contains(&"workload[0].arrivals.rate=3.0".to_string()), "{text:?}");
    assert!(text.contains(&"workload[1].arrivals.count=75".to_string()), "{text:?}");
    assert!(text.iter().any(|t| t.starts_with("fault=[") && t.contains("factor = 10.0") && t.contains("end = \"75s\"")), "{text:?}");
    let m = checker.load_case(&case).unwrap();
    assert_eq!(m.faults.len(), 1);
    assert_eq!(m.components["idp"].kind_name(), "token-endpoint");

    // metastable.toml has a slow window of its own: the case moves it.
    let meta = Checker::from_file(&repo("models/metastable.toml"), &[], RawSpace::default()).unwrap();
    let case = Case {
        seed: 1,
        fault: Some(testing::FaultCase {
            component: "idp".into(),
            kind: FaultKind::Slow,
            start: edgesim::engine::SimDuration::from_secs(100),
            length: edgesim::engine::SimDuration::ZERO,
            intensity: Milli(9000),
        }),
        ..Case::default()
    };
    let text: Vec<String> = meta.overrides(&case).unwrap().iter().map(|o| format!("{}={}", o.path, o.value)).collect();
    assert_eq!(text, ["fault[0].start=100s", "fault[0].end=100001ms", "fault[0].factor=1.0"], "a zero-length window is neutralised");
    let m = meta.load_case(&case).unwrap();
    assert_eq!(m.faults.len(), 1);
}

/// proptest's default failure persistence works from this integration test: a failing case is
/// written next to the test sources (`tests/<dir>/check.txt`; the default directory name is
/// `proptest-regressions`) and runs first the next time.
#[test]
fn failing_cases_persist_next_to_the_test_sources() {
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
    const DIR: &str = "proptest-regressions-selftest";
    let dir = repo("tests").join(DIR);
    let _ = std::fs::remove_dir_all(&dir);
    let model = TestModel::load("models/seed-incident.toml").unwrap();
    let strategy = testing::cases(&edgesim::check::CaseSpace { seeds: (1, 1000), load: Some((Milli(500), Milli(3000))), ..Default::default() });
    // Calls made, and the call that failed first.
    let calls = std::cell::Cell::new(0u32);
    let first_failure = std::cell::Cell::new(None::<u32>);
    let run = || {
        calls.set(0);
        first_failure.set(None);
        let config = Config {
            cases: 8,
            failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(DIR))),
            source_file: Some(file!()),
            ..Config::default()
        };
        TestRunner::new(config).run(&strategy, |case| {
            calls.set(calls.get() + 1);
            let s = model.run(&case)?;
            let r = testing::assert_property(&s, "no-family-revocation");
            if r.is_err() && first_failure.get().is_none() {
                first_failure.set(Some(calls.get()));
            }
            r
        })
    };
    assert!(run().is_err());
    let file = dir.join("check.txt");
    let saved = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(saved.contains("cc ") && saved.contains("shrinks to Case(seed "), "{saved}");
    assert!(run().is_err());
    assert_eq!(first_failure.get(), Some(1), "the saved case runs first");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// The command line.

fn edgesim_cmd(args: &[String], extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgesim")).args(args).args(extra).current_dir(repo("")).env_remove("RUST_BACKTRACE").output().unwrap()
}

fn check(args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec!["check".to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    let out = edgesim_cmd(&all, &[]);
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Splits a command line quoted as `shell_quote` quotes it.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            '\\' if !quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ' ' if !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[test]
fn exit_status_0_when_every_case_holds() {
    let (code, out, err) =
        check(&["models/healthy.toml", "--property", "no-family-revocation", "--property", "p99-below=30s", "--cases", "8", "--load", "0.5..2"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("ok     no-family-revocation  (8 cases)"), "{out}");
    assert!(out.contains("2 held, 0 violated, 0 errors"), "{out}");
}

#[test]
fn exit_status_1_on_a_violation_with_replay_and_recheck_lines() {
    let (code, out, err) = check(&[
        "models/seed-incident.toml",
        "-p",
        "no-family-revocation",
        "--cases",
        "8",
        "--seeds",
        "1..100",
        "--load",
        "0.5..3",
        "--fault",
        "idp:slow",
        "--fault-factor",
        "1..20",
        "--fault-length",
        "0s..60s",
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("FAILED no-family-revocation"), "{out}");
    let replay = out.lines().find_map(|l| l.trim().strip_prefix("replay:   ")).expect("a replay line");
    assert!(replay.starts_with("edgesim run models/seed-incident.toml --seed "), "{replay}");
    // The re-check line runs the minimal case once and fails the same way.
    let recheck = out.lines().find_map(|l| l.trim().strip_prefix("re-check: ")).expect("a re-check line");
    let words = shell_words(recheck);
    let o = edgesim_cmd(&words[1..], &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("FAILED no-family-revocation  (family_revocations = "), "{stdout}");
}

#[test]
fn exit_status_2_on_bad_input() {
    let cases: &[(&[&str], &str)] = &[
        (&["models/healthy.toml"], "no property to check"),
        (&["models/healthy.toml", "-p", "no-such-property"], "unknown property `no-such-property`"),
        (&["models/healthy.toml", "-p", "family_revocation == 0"], "unknown metric `family_revocation`"),
        (&["models/healthy.toml", "-p", "family_revocations = 0"], "=="),
        (&["models/healthy.toml", "-p", "no-family-revocation", "--load", "3..1"], "--load: the range 3.0..1.0 is empty"),
        (&["models/healthy.toml", "-p", "no-family-revocation", "--burst-count", "0..10"], "has none"),
        (
            &["models/healthy.toml", "-p", "no-family-revocation", "--fault", "nope:slow", "--fault-factor", "1..2", "--fault-length", "0s..1s"],
            "fault component `nope`",
        ),
        (&["models/healthy.toml", "-p", "no-family-revocation", "--vary", "idp.grase=0s..10s"], "unknown field `grase`"),
        (&["models/healthy.toml", "-p", "recovers-after-trigger"], "needs a slow fault"),
        (&["models/no-such-model.toml", "-p", "no-family-revocation"], "cannot read the model file"),
        (&["models/healthy.toml", "-p", "no-family-revocation", "--set", "idp.latency"], "--set"),
    ];
    for (args, wanted) in cases {
        let (code, out, err) = check(args);
        assert_eq!(code, Some(2), "edgesim check {args:?}: {out}{err}");
        assert!(err.contains(wanted), "edgesim check {args:?}: `{wanted}` missing from stderr:\n{err}");
        assert!(out.is_empty(), "edgesim check {args:?} printed to stdout: {out}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn junit_report_one_testcase_per_property_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("report.xml");
    let (code, out, err) = check(&[
        "models/seed-incident.toml",
        "-p",
        "no-family-revocation",
        "-p",
        "latency.p99_ms < 60000 && duplicate_side_effects == 0",
        "--cases",
        "6",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{out}{err}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"edgesim check\" tests=\"2\" failures=\"1\" errors=\"0\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert_eq!(xml.matches("<failure type=\"PropertyViolation\"").count(), 1, "{xml}");
    assert!(xml.contains("name=\"latency.p99_ms &lt; 60000 &amp;&amp; duplicate_side_effects == 0\""), "{xml}");
    assert!(xml.contains("replay:   edgesim run models/seed-incident.toml --seed "), "{xml}");
    assert_eq!(xml.matches("<testsuite ").count(), 1);
    assert_eq!(xml.matches("</testcase>").count(), 2);
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("report.xml")], "no temporary file left behind");
}

/// The `[check]` table of a model file gives the ranges and properties; the command line wins;
/// errors after the table keep their line numbers; the text report is deterministic.
#[test]
fn check_table_in_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = std::fs::read_to_string(repo("models/healthy.toml")).unwrap();
    let table = "[check]\ncases = 5\nseeds = [1, 50]\nload = [0.5, 2.0]\nvary = { \"idp.grace\" = [\"0s\", \"60s\"] }\nchoose = { \"webhook.token_cache.refresh\" = [\"single-flight\", \"concurrent\"] }\nproperties = [\"no-family-revocation\", \"p99-below=1m\"]\n\n";
    let file = dir.path().join("with-check.toml");
    // The table sits between the top-level keys and [simulation], so model lines follow it.
    let with_table = |model: &str, table: &str| model.replacen("[simulation]", &format!("{table}[simulation]"), 1);
    std::fs::write(&file, with_table(&healthy, table)).unwrap();
    let f = file.to_str().unwrap();
    let (code, out, err) = check(&[f]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 properties, 5 cases each"), "{out}");
    assert!(out.contains("idp.grace 0s..60s") && out.contains("webhook.token_cache.refresh one of single-flight, concurrent"), "{out}");
    let (_, again, _) = check(&[f]);
    assert_eq!(out, again, "same check, same report");
    let (code, out, _) = check(&[f, "--cases", "3", "-p", "amplification-below=2"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("1 properties, 3 cases each") && out.contains("ok     amplification-below=2  (3 cases)"), "{out}");

    // A bad model field below the table: reported at its own line.
    let bad = with_table(&healthy.replace("workers = 16", "workers = \"many\""), table);
    std::fs::write(&file, &bad).unwrap();
    let line = bad.lines().position(|l| l.contains("workers = \"many\"")).unwrap() + 1;
    let (code, _, err) = check(&[f]);
    assert_eq!(code, Some(2));
    assert!(err.contains(&format!("{f}:{line}:")), "line {line} expected:\n{err}");
    // A bad field in the table: located too.
    let bad = with_table(&healthy, "[check]\nloda = [1, 2]\n\n");
    std::fs::write(&file, &bad).unwrap();
    let line = bad.lines().position(|l| l.starts_with("loda")).unwrap() + 1;
    let (code, _, err) = check(&[f, "-p", "no-family-revocation"]);
    assert_eq!(code, Some(2));
    assert!(err.contains(&format!("{f}:{line}:")) && err.contains("unknown field `loda`"), "{err}");
}

/// The library's view of the same table.
#[test]
fn testing_api_reads_the_check_table() {
    let m = TestModel::load("models/check-seed-fixed.toml").unwrap();
    assert_eq!(m.space().load, Some((Milli(500), Milli(3000))));
    assert_eq!(m.space().burst.as_ref().unwrap().count, (0, 200));
    assert_eq!(m.properties().len(), 4);
    assert!(m.properties().contains(&Property::NoFamilyRevocation));
    let s = testing::run_case("models/check-seed-fixed.toml", &Case::with_seed(7));
    assert_eq!(s.seed, 7);
    testing::assert_property(&s, "no-family-revocation").unwrap();
    let e = testing::assert_property(&s, "family_revocations > 0").unwrap_err();
    assert!(e.to_string().contains("family_revocations = 0 (want > 0)"), "{e}");
    // Model text works as well as a path.
    let text = std::fs::read_to_string(repo("models/healthy.toml")).unwrap();
    let s2 = testing::run_case(text.as_str(), &Case::with_seed(7));
    assert_eq!(s2.invocations, testing::run_case("models/healthy.toml", &Case::with_seed(7)).invocations);
}
