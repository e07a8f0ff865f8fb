//! Sweeps: the output bytes do not depend on threads, shards or interruptions; intervals and
//! constraints are computed as documented; bad experiment files are located.

use crate::repo;
use edgesim::sweep::{merge, run_sweep, stats, Experiment, Shard, SweepError, SweepOptions};
use std::path::{Path, PathBuf};

const OUTPUTS: [&str; 4] = ["results.csv", "summary.csv", "recommendation.json", "recommendation.md"];

fn tiny() -> Experiment {
    Experiment::load(&repo("experiments/tiny.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn opts(out: &Path, threads: usize) -> SweepOptions {
    SweepOptions { out: out.to_path_buf(), threads: Some(threads), ..Default::default() }
}

fn read(dir: &Path, f: &str) -> Vec<u8> {
    std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}/{f}: {e}", dir.display()))
}

fn assert_same_outputs(a: &Path, b: &Path) {
    for f in OUTPUTS {
        assert!(read(a, f) == read(b, f), "{f} differs between {} and {}", a.display(), b.display());
    }
}

/// (point, replication) of every row of results.csv, in file order.
fn row_keys(dir: &Path) -> Vec<(u64, u32)> {
    let mut r = csv::Reader::from_path(dir.join("results.csv")).unwrap();
    r.records().map(|x| x.unwrap()).map(|x| (x[0].parse().unwrap(), x[1].parse().unwrap())).collect()
}

fn full_run(exp: &Experiment, out: &Path) {
    let rep = run_sweep(exp, &opts(out, 2)).unwrap();
    assert!(rep.recommendation.is_some());
}

#[test]
fn output_is_identical_on_one_and_two_threads() {
    let exp = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    let r1 = run_sweep(&exp, &opts(&one, 1)).unwrap();
    let r2 = run_sweep(&exp, &opts(&two, 2)).unwrap();
    assert_eq!((r1.threads, r2.threads), (1, 2));
    assert_eq!(r1.runs, exp.spec.runs());
    assert_same_outputs(&one, &two);
    let keys = row_keys(&one);
    let expected: Vec<(u64, u32)> = (0..exp.spec.points()).flat_map(|p| (0..exp.spec.replications).map(move |r| (p, r))).collect();
    assert_eq!(keys, expected);
}

#[test]
fn shards_merged_equal_an_unsharded_run() {
    let exp = tiny();
    assert!(exp.spec.chunks() >= 3, "tiny.toml should have several chunks to shard");
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    full_run(&exp, &whole);
    let shards: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("shard-{i}"))).collect();
    for (i, dir) in shards.iter().enumerate() {
        let o = SweepOptions { shard: Some(Shard::new(i as u64, 3).unwrap()), ..opts(dir, 1) };
        let rep = run_sweep(&exp, &o).unwrap();
        assert!(rep.recommendation.is_none(), "a shard alone is not the whole sweep");
        assert!(!dir.join("results.csv").exists());
    }
    // Missing shards are named, not silently merged.
    let err = merge(&shards[..2], &tmp.path().join("partial")).expect_err("incomplete merge must fail");
    assert!(err.to_string().contains("missing"), "{err}");
    let merged = tmp.path().join("merged");
    let rec = merge(&shards, &merged).unwrap();
    assert_eq!(rec.points, exp.spec.points());
    assert_same_outputs(&whole, &merged);
}

#[test]
fn an_interrupted_sweep_resumes_without_losing_or_repeating_rows() {
    let exp = tiny();
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    full_run(&exp, &whole);

    // Interrupted after two chunks: no final files yet.
    let dir = tmp.path().join("resumed");
    let first = run_sweep(&exp, &SweepOptions { max_chunks: Some(2), ..opts(&dir, 2) }).unwrap();
    assert_eq!(first.chunks_run, 2);
    assert!(first.recommendation.is_none());
    assert!(!dir.join("results.csv").exists());
    // A temporary file left by a write that was cut short is not a part.
    std::fs::write(dir.join("parts").join(".tmp-killed"), "0,0,1,garbage\n").unwrap();

    let second = run_sweep(&exp, &opts(&dir, 2)).unwrap();
    assert_eq!(second.chunks_skipped, 2);
    assert_eq!(second.chunks_run, exp.spec.chunks() - 2);
    assert_same_outputs(&whole, &dir);
    assert!(!dir.join("parts").join(".tmp-killed").exists());

    // A lost part is recomputed alone.
    std::fs::remove_file(dir.join("parts").join("chunk-000000001.csv")).unwrap();
    let third = run_sweep(&exp, &opts(&dir, 1)).unwrap();
    assert_eq!((third.chunks_run, third.runs), (1, exp.spec.chunk_points(1).count() as u64 * exp.spec.replications as u64));
    assert_same_outputs(&whole, &dir);
    let keys = row_keys(&dir);
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(unique.len(), keys.len());
    assert_eq!(keys.len() as u64, exp.spec.runs());
}

#[test]
fn a_changed_experiment_is_not_resumed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    full_run(&tiny(), &dir);
    let text = std::fs::read_to_string(repo("experiments/tiny.toml")).unwrap().replace("seed = 11", "seed = 12");
    let file = tmp.path().join("tiny.toml");
    std::fs::write(&file, text.replace("../models/", &format!("{}/", repo("models").display()))).unwrap();
    let changed = Experiment::load(&file).unwrap();
    match run_sweep(&changed, &opts(&dir, 1)) {
        Err(SweepError::Resume(m)) => assert!(m.contains("--fresh") && m.contains("changed"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("resumed a different experiment"),
    }
    let rep = run_sweep(&changed, &SweepOptions { fresh: true, ..opts(&dir, 1) }).unwrap();
    assert_eq!(rep.chunks_skipped, 0);
    assert!(rep.recommendation.is_some());
}

/// End to end: summary.csv's interval for each point is mean +- t(0.975, n-1) s / sqrt(n) of the
/// results rows, with the textbook t for 1 degree of freedom; feasibility follows the
/// constraints on the rows.
#[test]
fn summary_intervals_and_feasibility_follow_the_results() {
    let exp = tiny();
    assert_eq!(exp.spec.replications, 2);
    let tmp = tempfile::tempdir().unwrap();
    full_run(&exp, tmp.path());
    let mut res = csv::Reader::from_path(tmp.path().join("results.csv")).unwrap();
    let h = res.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let rows: Vec<csv::StringRecord> = res.records().map(|r| r.unwrap()).collect();
    let mut sum = csv::Reader::from_path(tmp.path().join("summary.csv")).unwrap();
    let sh = sum.headers().unwrap().clone();
    let scol = |name: &str| sh.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name}"));
    const T_975_DF1: f64 = 12.706_204_736;
    let mut feasible_seen = 0;
    for s in sum.records().map(|r| r.unwrap()) {
        let p: u64 = s[0].parse().unwrap();
        let mine: Vec<&csv::StringRecord> = rows.iter().filter(|r| r[0].parse::<u64>().unwrap() == p).collect();
        let x: Vec<f64> = mine.iter().map(|r| r[col("latency.p99_ms")].parse().unwrap()).collect();
        let mean = (x[0] + x[1]) / 2.0;
        let sd = ((x[0] - mean).powi(2) + (x[1] - mean).powi(2)).sqrt();
        let half = T_975_DF1 * sd / 2f64.sqrt();
        let got = |c: &str| s[scol(c)].parse::<f64>().unwrap();
        assert!((got("latency.p99_ms.mean") - mean).abs() < 1e-9);
        assert!((got("latency.p99_ms.ci95_low") - (mean - half)).abs() < 1e-6 * (1.0 + half));
        assert!((got("latency.p99_ms.ci95_high") - (mean + half)).abs() < 1e-6 * (1.0 + half));

        let bad = mine.iter().filter(|r| r[col("family_revocations")] != *"0" || r[col("latency.p99_ms")].parse::<f64>().unwrap() > 20000.0).count() as u64;
        assert_eq!(s[scol("any.violations")].parse::<u64>().unwrap(), bad);
        let w = stats::wilson95(bad, 2);
        assert!((got("any.p95_high") - w.high).abs() < 1e-12);
        assert_eq!(&s[scol("feasible")], if bad == 0 { "true" } else { "false" });
        feasible_seen += u64::from(bad == 0);
    }
    let json: serde_json::Value = serde_json::from_slice(&read(tmp.path(), "recommendation.json")).unwrap();
    assert_eq!(json["feasible_points"], feasible_seen);
    // Ranked by the first objective (minimize latency.p99_ms).
    let ranked = json["ranked"].as_array().unwrap();
    let p99: Vec<f64> = ranked.iter().map(|r| r["metrics"]["latency.p99_ms"]["mean"].as_f64().unwrap()).collect();
    assert!(p99.windows(2).all(|w| w[0] <= w[1]), "{p99:?}");
    assert!(ranked.iter().all(|r| r["feasible"] == true));
    assert!(json["pareto_front"]["size"].as_u64().unwrap() >= 1);
}

fn write_experiment(dir: &Path, body: &str) -> PathBuf {
    let file = dir.join("bad.toml");
    let text = format!("model = \"{}\"\nreplications = 1\n{body}", repo("models/seed-incident.toml").display());
    std::fs::write(&file, text).unwrap();
    file
}

#[test]
fn an_unknown_axis_path_is_located() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_experiment(tmp.path(), "\n[[axis]]\npath = \"components.edge.deadlin\"\nvalues = [\"10s\", \"30s\"]\n");
    let e = Experiment::load(&file).expect_err("an unknown field must be refused");
    let text = e.to_string();
    assert_eq!(e.path, "axis[0].path", "{text}");
    assert_eq!(e.line, Some(5), "{text}");
    assert!(e.file.ends_with("bad.toml"));
    assert!(text.contains("components.edge.deadlin") && text.contains("deadlin"), "{text}");
    assert!(e.hint.is_some());

    // A value the model refuses names the axis and the value.
    let file = write_experiment(tmp.path(), "\n[[axis]]\npath = \"components.edge.deadline\"\nvalues = [\"10s\", \"90s\"]\n");
    let e = Experiment::load(&file).expect_err("90 s is above the Data Action cap");
    assert_eq!(e.path, "axis[0].values[1]", "{e}");
    assert!(e.to_string().contains("90s"), "{e}");

    // So does a metric that is not in the summary.
    let file = write_experiment(tmp.path(), "constraints = [\"latency.p99 <= 100\"]\n");
    let e = Experiment::load(&file).expect_err("unknown metric");
    assert_eq!(e.path, "constraints[0]");
    assert!(e.to_string().contains("latency.p99_ms"), "the hint suggests the right key: {e}");
}

#[test]
fn a_sampled_sweep_runs_and_shards() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_experiment(
        tmp.path(),
        r#"seed = 5
chunk = 2
set = { "simulation.duration" = "2m" }
metrics = ["success_rate"]
objective = "minimize latency.p99_ms"
[sampling]
kind = "latin-hypercube"
points = 6
[[axis]]
path = "components.edge.deadline"
log = { from = 2, to = 60 }
unit = "s"
[[axis]]
path = "components.webhook.token_cache.refresh"
values = ["concurrent", "single-flight"]
"#,
    );
    let exp = Experiment::load(&file).unwrap_or_else(|e| panic!("{e}"));
    let whole = tmp.path().join("whole");
    full_run(&exp, &whole);
    assert_eq!(row_keys(&whole).len(), 6);
    let shards: Vec<PathBuf> = (0..2).map(|i| tmp.path().join(format!("s{i}"))).collect();
    for (i, d) in shards.iter().enumerate() {
        run_sweep(&exp, &SweepOptions { shard: Some(Shard::new(i as u64, 2).unwrap()), ..opts(d, 1) }).unwrap();
    }
    merge(&shards, &tmp.path().join("merged")).unwrap();
    assert_same_outputs(&whole, &tmp.path().join("merged"));
}

#[test]
fn shards_come_from_the_batch_system() {
    let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
    assert_eq!(Shard::from_env(env(&[])).unwrap(), None);
    let (s, _) = Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "2"), ("EDGESIM_SHARD_COUNT", "4")])).unwrap().unwrap();
    assert_eq!(s, Shard { index: 2, count: 4 });
    let (s, _) = Shard::from_env(env(&[("SLURM_ARRAY_TASK_ID", "3"), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")])).unwrap().unwrap();
    assert_eq!(s, Shard { index: 2, count: 4 });
    assert!(Shard::from_env(env(&[("JOB_COMPLETION_INDEX", "0")])).is_err());
    assert!(Shard::parse("4/4").is_err());
    assert_eq!(Shard::parse("0/1").unwrap(), Shard { index: 0, count: 1 });
}

/// The one test that runs the binary: `edgesim sweep` prints the top points and writes what the
/// library writes.
#[test]
fn the_sweep_command_writes_what_the_library_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    full_run(&tiny(), &lib);
    let cli = tmp.path().join("cli");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_edgesim"))
        .args(["sweep", "experiments/tiny.toml", "--threads", "1", "--no-progress", "--out"])
        .arg(&cli)
        .current_dir(repo(""))
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| rank | point |"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs/s"));
    assert_same_outputs(&lib, &cli);
}

/// A run that fails (here: a limit reached) is a row with its error, counted as violating
/// every constraint; the sweep goes on.
#[test]
fn failed_runs_are_recorded_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let file = write_experiment(
        tmp.path(),
        r#"set = { "simulation.duration" = "1m" }
metrics = ["success_rate"]
constraints = ["success_rate >= 0"]
[[axis]]
path = "limits.max_events"
values = [2000000000, 100]
"#,
    );
    let exp = Experiment::load(&file).unwrap_or_else(|e| panic!("{e}"));
    full_run(&exp, tmp.path());
    let mut r = csv::Reader::from_path(tmp.path().join("results.csv")).unwrap();
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(&rows[0][rows[0].len() - 1], "");
    assert!(rows[1][rows[1].len() - 1].contains("limit reached"), "{:?}", rows[1]);
    let json: serde_json::Value = serde_json::from_slice(&read(tmp.path(), "recommendation.json")).unwrap();
    assert_eq!(json["feasible_points"], 1);
    assert_eq!(json["closest_infeasible"][0]["errors"], 1);
}
