//! Bad model files are refused with an error that names the file, the line, the field path and
//! what to do about it, never with a panic.
//!
//! Each test breaks one thing in a small valid model (`BASE`, or `PROXIES` for topology errors)
//! and loads it with `edgesim::scenario::load_str(text, "bad.toml", overrides)`. Expected lines
//! are found with `line_of` (the line holding a given snippet), so a test keeps pointing at the
//! right place if `BASE` grows; the syntax-error test also spells its line number out.
//!
//! An error inside a component's own settings is reported at the field (the loader re-reads the
//! tagged table as its concrete type; `nested_errors_name_the_field_not_the_table`). Inside an
//! inline `arrivals` table it is reported at `workload[i].arrivals`, on the same line, with the
//! field named in the message. `assert_in_table` accepts either location.

use edgesim::scenario::{load_str, ModelError, Override};

/// A small valid model: a workload calling an edge in front of a service.
const BASE: &str = r#"description = "bad-model test base"

[simulation]
duration = "1m"

[[org]]
name = "A"

[components.edge]
kind = "edge"
deadline = "10s"
upstream = { target = "svc", latency = "1ms" }

[components.svc]
kind = "service"
workers = 2
service_time = "10ms"

[[workload]]
org = "A"
target = "edge"
arrivals = { kind = "poisson", rate = 1.0 }
"#;

/// A topology with two proxies between the edge and the service.
const PROXIES: &str = r#"[simulation]
duration = "1m"

[[org]]
name = "A"

[components.edge]
kind = "edge"
deadline = "10s"
upstream = { target = "a" }

[components.a]
kind = "proxy"
upstream = { target = "b" }

[components.b]
kind = "proxy"
preset = "envoy"
upstream = { target = "svc" }

[components.svc]
kind = "service"
service_time = "10ms"

[[workload]]
org = "A"
target = "edge"
arrivals = { kind = "poisson", rate = 1.0 }
"#;

/// `text` with `from` (which must occur exactly once) replaced by `to`.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "`{from}` must occur exactly once in the model");
    text.replacen(from, to, 1)
}

/// 1-based line of the only line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    let lines: Vec<usize> = text.lines().enumerate().filter(|(_, l)| l.contains(needle)).map(|(i, _)| i + 1).collect();
    assert_eq!(lines.len(), 1, "`{needle}` must be on exactly one line, found on {lines:?}");
    lines[0]
}

fn load_err_with(text: &str, sets: &[&str]) -> ModelError {
    let ov: Vec<Override> = sets.iter().map(|s| Override::parse(s).unwrap()).collect();
    match load_str(text, "bad.toml", &ov) {
        Ok(_) => panic!("the model loaded, but it should have been refused:\n{text}"),
        Err(e) => {
            assert_eq!(e.file, "bad.toml");
            eprintln!("{e}");
            e
        }
    }
}

fn load_err(text: &str) -> ModelError {
    load_err_with(text, &[])
}

/// The error is at `path`, on `line`, and its text starts with `bad.toml:<line>:`.
fn assert_at(e: &ModelError, path: &str, line: usize) {
    assert_eq!(e.path, path, "path of: {e}");
    assert_eq!(e.line, Some(line), "line of: {e}");
    assert!(e.to_string().starts_with(&format!("bad.toml:{line}:")), "display of: {e}");
}

/// The error is at the field (`field_path` on `field_line`, what we want) or, as the loader does
/// today for settings inside a `kind`-tagged table, at the enclosing table (`table_path` on
/// `table_line`). Either way it names the table the problem is in.
fn assert_in_table(e: &ModelError, field_path: &str, field_line: usize, table_path: &str, table_line: usize) {
    assert!(field_path.starts_with(table_path));
    let at_field = e.path == field_path && e.line == Some(field_line);
    let at_table = e.path == table_path && e.line == Some(table_line);
    assert!(
        at_field || at_table,
        "expected `{field_path}` at line {field_line} (or `{table_path}` at line {table_line}), got `{}` at {:?}: {e}",
        e.path,
        e.line
    );
    let line = e.line.unwrap();
    assert!(e.to_string().starts_with(&format!("bad.toml:{line}:")), "display of: {e}");
}

/// Every word occurs (case-insensitively) in the message or the hint.
fn assert_mentions(e: &ModelError, words: &[&str]) {
    let text = format!("{} {}", e.message, e.hint.as_deref().unwrap_or("")).to_lowercase();
    for w in words {
        assert!(text.contains(&w.to_lowercase()), "`{w}` missing from: {e}");
    }
}

#[test]
fn bad_models_base_models_are_valid() {
    load_str(BASE, "base.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
    load_str(PROXIES, "proxies.toml", &[]).unwrap_or_else(|e| panic!("{e}"));
}

// ---- TOML itself ---------------------------------------------------------------------------

#[test]
fn bad_models_toml_syntax_error_gives_line_and_column() {
    // An unterminated string on line 11 (`deadline = "10s`).
    let text = edit(BASE, r#"deadline = "10s""#, r#"deadline = "10s"#);
    assert_eq!(line_of(&text, r#"deadline = "10s"#), 11);
    let e = load_err(&text);
    assert_at(&e, "", 11);
    assert_eq!(e.column, Some(16), "column of the string's end: {e}");
    assert!(e.to_string().starts_with("bad.toml:11:16: error"), "{e}");
    assert_mentions(&e, &["TOML syntax", "string", "quotes"]);
}

#[test]
fn bad_models_toml_duplicate_key_is_a_syntax_error() {
    let text = edit(BASE, "workers = 2\n", "workers = 2\nworkers = 3\n");
    let e = load_err(&text);
    assert_at(&e, "", line_of(&text, "workers = 3"));
    assert_mentions(&e, &["duplicate key `workers`", "components.svc"]);
}

// ---- types and fields ----------------------------------------------------------------------

#[test]
fn bad_models_number_where_a_duration_is_expected() {
    let text = edit(BASE, r#"deadline = "10s""#, "deadline = 10");
    let e = load_err(&text);
    assert_in_table(&e, "components.edge.deadline", line_of(&text, "deadline = 10"), "components.edge", line_of(&text, "[components.edge]"));
    assert_mentions(&e, &["bare number", "unit", "\"10s\""]);
}

#[test]
fn bad_models_duration_without_unit() {
    let text = edit(BASE, r#"duration = "1m""#, r#"duration = "60""#);
    let e = load_err(&text);
    assert_at(&e, "simulation.duration", line_of(&text, "duration = \"60\""));
    assert_mentions(&e, &["no unit", "30s"]);
}

#[test]
fn bad_models_string_where_a_count_is_expected() {
    let text = edit(BASE, "workers = 2", r#"workers = "two""#);
    let e = load_err(&text);
    assert_in_table(&e, "components.svc.workers", line_of(&text, "workers ="), "components.svc", line_of(&text, "[components.svc]"));
    assert_mentions(&e, &["invalid type", "integer"]);
}

#[test]
fn bad_models_unknown_field_names_path_and_line() {
    // In a plain table the path and line are the field's own.
    let text = edit(BASE, "duration = \"1m\"\n", "duration = \"1m\"\nseeed = 4\n");
    let e = load_err(&text);
    assert_at(&e, "simulation.seeed", line_of(&text, "seeed"));
    assert_mentions(&e, &["unknown field `seeed`", "`seed`", "spelling"]);

    let text = edit(BASE, "target = \"edge\"\n", "target = \"edge\"\nrate = 4.0\n");
    let e = load_err(&text);
    assert_at(&e, "workload[0].rate", line_of(&text, "rate = 4.0"));
    assert_mentions(&e, &["unknown field `rate`", "`arrivals`"]);

    // A misspelt top-level table.
    let text = format!("{BASE}\n[simulaton]\nseed = 3\n");
    let e = load_err(&text);
    assert_at(&e, "simulaton", line_of(&text, "[simulaton]"));
    assert_mentions(&e, &["unknown field `simulaton`", "`simulation`"]);
}

#[test]
fn bad_models_unknown_field_in_a_component() {
    let text = edit(BASE, "deadline = \"10s\"\n", "deadline = \"10s\"\ndeadlnie = \"5s\"\n");
    let e = load_err(&text);
    assert_in_table(&e, "components.edge.deadlnie", line_of(&text, "deadlnie"), "components.edge", line_of(&text, "[components.edge]"));
    assert_mentions(&e, &["unknown field `deadlnie`", "`deadline`", "spelling"]);
}

#[test]
fn bad_models_unknown_kind_and_unknown_distribution() {
    let text = edit(BASE, r#"kind = "service""#, r#"kind = "lambda""#);
    let e = load_err(&text);
    assert_at(&e, "components.svc.kind", line_of(&text, "lambda"));
    assert_mentions(&e, &["unknown variant `lambda`", "`service`", "`token-endpoint`"]);

    let text = edit(BASE, r#"service_time = "10ms""#, r#"service_time = { dist = "gamma", mean = "10ms" }"#);
    let e = load_err(&text);
    assert_in_table(&e, "components.svc.service_time.dist", line_of(&text, "gamma"), "components.svc", line_of(&text, "[components.svc]"));
    assert_mentions(&e, &["unknown variant `gamma`", "`exponential`", "`lognormal`"]);
}

// ---- names that do not resolve -------------------------------------------------------------

#[test]
fn bad_models_unknown_component_in_an_upstream() {
    let text = edit(BASE, r#"target = "svc""#, r#"target = "svcc""#);
    let e = load_err(&text);
    assert_at(&e, "components.edge.upstream.target", line_of(&text, "svcc"));
    assert_mentions(&e, &["unknown component `svcc`", "components defined: edge, svc"]);
}

#[test]
fn bad_models_unknown_org_in_a_workload() {
    let text = edit(BASE, "org = \"A\"", "org = \"B\"");
    let e = load_err(&text);
    assert_at(&e, "workload[0].org", line_of(&text, "org = \"B\""));
    assert_mentions(&e, &["unknown org `B`", "orgs defined: A"]);
}

#[test]
fn bad_models_service_calls_that_lead_nowhere() {
    // A platform API call needs a token endpoint.
    let text = format!(
        "{}\n[components.api]\nkind = \"platform-api\"\nlatency = \"5ms\"\n",
        edit(BASE, "service_time = \"10ms\"\n", "service_time = \"10ms\"\nplatform_api = { target = \"api\" }\n")
    );
    let e = load_err(&text);
    assert_at(&e, "components.svc.platform_api", line_of(&text, "platform_api ="));
    assert_mentions(&e, &["needs a token", "token_endpoint"]);

    // A token endpoint target that is not one.
    let text = edit(BASE, "service_time = \"10ms\"\n", "service_time = \"10ms\"\ntoken_endpoint = { target = \"edge\" }\n");
    let e = load_err(&text);
    assert_at(&e, "components.svc.token_endpoint.target", line_of(&text, "token_endpoint ="));
    assert_mentions(&e, &["does not lead to a token endpoint", "kind = \"token-endpoint\""]);
}

#[test]
fn bad_models_duplicate_org() {
    let text = edit(BASE, "name = \"A\"\n", "name = \"A\"\n\n[[org]]\nname = \"A\"\n");
    let e = load_err(&text);
    let second = text.lines().enumerate().filter(|(_, l)| l.contains("name = \"A\"")).nth(1).unwrap().0 + 1;
    assert_at(&e, "org[1].name", second);
    assert_mentions(&e, &["defined twice", "unique"]);
}

// ---- values out of range -------------------------------------------------------------------

#[test]
fn bad_models_negative_latency() {
    let text = edit(BASE, r#"latency = "1ms""#, r#"latency = "-5ms""#);
    let e = load_err(&text);
    assert_in_table(&e, "components.edge.upstream.latency", line_of(&text, "-5ms"), "components.edge", line_of(&text, "[components.edge]"));
    assert_mentions(&e, &["`-5ms`", "negative", "30s"]);
}

#[test]
fn bad_models_inverted_uniform_range() {
    let text = edit(BASE, r#"service_time = "10ms""#, r#"service_time = { dist = "uniform", low = "30ms", high = "10ms" }"#);
    let e = load_err(&text);
    assert_in_table(&e, "components.svc.service_time", line_of(&text, "uniform"), "components.svc", line_of(&text, "[components.svc]"));
    assert_mentions(&e, &["uniform", "low (30ms) is greater than high (10ms)", "swap"]);
}

#[test]
fn bad_models_lognormal_p99_below_median() {
    let text = edit(BASE, r#"service_time = "10ms""#, r#"service_time = { dist = "lognormal", median = "30ms", p99 = "10ms" }"#);
    let e = load_err(&text);
    assert_in_table(&e, "components.svc.service_time", line_of(&text, "lognormal"), "components.svc", line_of(&text, "[components.svc]"));
    assert_mentions(&e, &["p99 (10ms) must be at least the median (30ms)", "swapped"]);
}

#[test]
fn bad_models_deadline_outside_the_genesys_range() {
    let text = edit(BASE, "kind = \"edge\"\ndeadline = \"10s\"", "kind = \"edge\"\npreset = \"genesys-data-action\"\ndeadline = \"90s\"");
    let e = load_err(&text);
    assert_at(&e, "components.edge.deadline", line_of(&text, "90s"));
    assert_mentions(&e, &["deadline 90s is outside the allowed range 1s..60s", "Genesys", "1-60 s"]);
}

#[test]
fn bad_models_zero_workers() {
    let text = edit(BASE, "workers = 2", "workers = 0");
    let e = load_err(&text);
    assert_at(&e, "components.svc.workers", line_of(&text, "workers = 0"));
    assert_mentions(&e, &["at least 1", "never answers"]);
}

#[test]
fn bad_models_negative_arrival_rate_and_zero_retry_attempts() {
    let text = edit(BASE, "rate = 1.0", "rate = -1.0");
    let e = load_err(&text);
    assert_at(&e, "workload[0].arrivals.rate", line_of(&text, "rate = -1.0"));
    assert_mentions(&e, &["rate -1", ">= 0", "per second"]);

    let text = edit(BASE, r#"latency = "1ms" }"#, r#"latency = "1ms", retry = { max_attempts = 0 } }"#);
    let e = load_err(&text);
    assert_at(&e, "components.edge.upstream.retry.max_attempts", line_of(&text, "max_attempts"));
    assert_mentions(&e, &["at least 1", "retry"]);
}

// ---- topology ------------------------------------------------------------------------------

#[test]
fn bad_models_cycle_in_the_call_path() {
    // edge -> a -> b -> a: the request would go round for ever.
    let text = edit(PROXIES, r#"upstream = { target = "svc" }"#, r#"upstream = { target = "a" }"#);
    // The service is now unreachable too, but the cycle is the root cause and is reported first.
    let e = load_err(&text);
    assert_at(&e, "components.a", line_of(&text, "[components.a]"));
    assert_mentions(&e, &["cycle through a -> b", "points back"]);
}

#[test]
fn bad_models_component_calls_itself() {
    let text = edit(PROXIES, r#"upstream = { target = "b" }"#, r#"upstream = { target = "a" }"#);
    let e = load_err(&text);
    // `a` calling `a` is caught before cycle detection, at the upstream's target.
    assert_at(&e, "components.a.upstream.target", line_of(&text, "[components.a]") + 2);
    assert_mentions(&e, &["calls itself", "another component"]);
}

#[test]
fn bad_models_unreachable_component() {
    let text = format!("{BASE}\n[components.orphan]\nkind = \"service\"\nservice_time = \"1ms\"\n");
    let e = load_err(&text);
    assert_at(&e, "components.orphan", line_of(&text, "[components.orphan]"));
    assert_mentions(&e, &["`orphan` is never called", "remove it"]);
}

#[test]
fn bad_models_missing_required_setting() {
    // An edge has no default deadline.
    let text = edit(BASE, "deadline = \"10s\"\n", "");
    let e = load_err(&text);
    assert_at(&e, "components.edge", line_of(&text, "[components.edge]"));
    assert_mentions(&e, &["missing field `deadline`", "no default", "add it"]);
}

// ---- presets -------------------------------------------------------------------------------

#[test]
fn bad_models_unknown_preset() {
    let text = edit(BASE, "kind = \"edge\"\n", "kind = \"edge\"\npreset = \"genesys\"\n");
    let e = load_err(&text);
    assert_at(&e, "components.edge.preset", line_of(&text, "preset = \"genesys\""));
    assert_mentions(&e, &["unknown preset `genesys`", "genesys-data-action"]);

    let text = edit(BASE, r#"latency = "1ms" }"#, r#"latency = "1ms", retry = { preset = "aws" } }"#);
    let e = load_err(&text);
    assert_at(&e, "components.edge.upstream.retry.preset", line_of(&text, "preset = \"aws\""));
    assert_mentions(&e, &["unknown preset `aws`", "aws-sdk-standard"]);
}

#[test]
fn bad_models_preset_on_the_wrong_kind() {
    // A retry policy preset on a proxy.
    let text = edit(PROXIES, r#"preset = "envoy""#, r#"preset = "seed-thread""#);
    let e = load_err(&text);
    assert_at(&e, "components.b.preset", line_of(&text, "seed-thread"));
    assert_mentions(&e, &["`seed-thread` is for a retry, not for this proxy", "alb", "envoy"]);

    // An edge preset on a service.
    let text = edit(BASE, "kind = \"service\"\n", "kind = \"service\"\npreset = \"genesys-data-action\"\n");
    let e = load_err(&text);
    assert_at(&e, "components.svc.preset", line_of(&text, "genesys-data-action"));
    assert_mentions(&e, &["`genesys-data-action` is for a", "edge", "not for this service"]);
}

// ---- overrides (--set) ---------------------------------------------------------------------

#[test]
fn bad_models_unknown_override_path() {
    // The field does not exist: found when the overridden document is read.
    let e = load_err_with(BASE, &["simulation.seeed=3"]);
    assert_eq!(e.path, "simulation.seeed", "{e}");
    // The field is not in the file; the error points at the table it was added to.
    assert_eq!(e.line, Some(line_of(BASE, "[simulation]")), "{e}");
    assert_mentions(&e, &["unknown field `seeed`", "`seed`"]);

    // The same inside a component, with the `components.` prefix left out.
    let e = load_err_with(BASE, &["edge.dedline=30s"]);
    assert!(e.path == "components.edge.dedline" || e.path == "components.edge", "{e}");
    assert_eq!(e.line, Some(line_of(BASE, "[components.edge]")), "{e}");
    assert_mentions(&e, &["unknown field `dedline`", "`deadline`"]);

    // A list index past the end.
    let e = load_err_with(BASE, &["workload[3].org=A"]);
    assert_eq!(e.path, "workload[3].org", "{e}");
    assert_mentions(&e, &["index 3 out of range", "workload has 1"]);

    // Indexing something that is not a list.
    let e = load_err_with(BASE, &["simulation[0].seed=3"]);
    assert_eq!(e.path, "simulation[0].seed", "{e}");
    assert_mentions(&e, &["simulation"]);

    // Not PATH=VALUE at all.
    let msg = Override::parse("edge.deadline").unwrap_err();
    assert!(msg.contains("PATH=VALUE"), "{msg}");
    let msg = Override::parse("=30s").unwrap_err();
    assert!(msg.contains("empty path"), "{msg}");
}

#[test]
fn bad_models_override_with_a_bad_value() {
    let e = load_err_with(BASE, &["edge.deadline=30"]);
    assert!(e.path == "components.edge.deadline" || e.path == "components.edge", "{e}");
    assert_mentions(&e, &["bare number (30)", "unit"]);

    let e = load_err_with(BASE, &["edge.deadline=90s", "edge.preset=genesys-data-action"]);
    assert_eq!(e.path, "components.edge.deadline", "{e}");
    assert_mentions(&e, &["outside the allowed range"]);
}

// ---- the known gap -------------------------------------------------------------------------

/// What the error location should be for settings inside `kind`-tagged tables (components,
/// arrivals): the field itself. Today the loader reports the enclosing table: `ComponentConfig`
/// and `Arrivals` are `#[serde(tag = "kind")]` enums, which serde deserializes by buffering the
/// table and replaying it without `serde_path_to_error`'s tracking, so the path stops at
/// `components.<name>` (or `workload[i].arrivals`) and the line is the table's header.
#[test]
fn nested_errors_name_the_field_not_the_table() {
    let cases: Vec<(String, &str, &str)> = vec![
        (edit(BASE, r#"deadline = "10s""#, "deadline = 10"), "components.edge.deadline", "deadline = 10"),
        (edit(BASE, "deadline = \"10s\"\n", "deadline = \"10s\"\ndeadlnie = \"5s\"\n"), "components.edge.deadlnie", "deadlnie"),
        (edit(BASE, r#"latency = "1ms""#, r#"latency = "-5ms""#), "components.edge.upstream.latency", "-5ms"),
        (edit(BASE, "workers = 2", r#"workers = "two""#), "components.svc.workers", "workers ="),
        (
            edit(BASE, r#"service_time = "10ms""#, r#"service_time = { dist = "uniform", low = "30ms", high = "10ms" }"#),
            "components.svc.service_time",
            "uniform",
        ),
    ];
    // `arrivals` (an inline tagged table) is still reported at `workload[0].arrivals`, on the
    // same line, with the unknown field named in the message; see bad_models_unknown_field_in_arrivals.
    let mut wrong = vec![];
    for (text, path, needle) in &cases {
        let e = load_err(text);
        if e.path != *path || e.line != Some(line_of(text, needle)) {
            wrong.push(format!("wanted `{path}` at line {}, got `{}` at {:?}", line_of(text, needle), e.path, e.line));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---- the command line ----------------------------------------------------------------------

#[test]
fn bad_models_cli_reports_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let text = edit(BASE, r#"target = "svc""#, r#"target = "svcc""#);
    std::fs::write(&file, &text).unwrap();
    let line = line_of(&text, "svcc");
    let exe = env!("CARGO_BIN_EXE_edgesim");

    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["run".into(), file.display().to_string()], format!("{}:{line}:", file.display())),
        (vec!["validate".into(), file.display().to_string()], format!("{}:{line}:", file.display())),
        // A syntax error.
        (vec!["run".into(), dir.path().join("syntax.toml").display().to_string()], format!("{}:4:", dir.path().join("syntax.toml").display())),
        // A bad --set.
        (
            vec!["run".into(), dir.path().join("good.toml").display().to_string(), "--set".into(), "workload[0].org=Z".into()],
            format!("{}:{}:", dir.path().join("good.toml").display(), line_of(BASE, "org = \"A\"")),
        ),
        (vec!["run".into(), dir.path().join("good.toml").display().to_string(), "--set".into(), "edge.deadline".into()], "PATH=VALUE".into()),
        // A file that is not there.
        (vec!["run".into(), dir.path().join("missing.toml").display().to_string()], "cannot read the model file".into()),
    ];
    std::fs::write(dir.path().join("syntax.toml"), "[simulation]\nduration = \"1m\"\n\nseed = = 3\n").unwrap();
    std::fs::write(dir.path().join("good.toml"), BASE).unwrap();

    for (args, wanted) in cases {
        let out = std::process::Command::new(exe).args(&args).env_remove("RUST_BACKTRACE").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "edgesim {args:?}: status {:?}, stderr:\n{stderr}", out.status);
        assert!(stderr.contains(&wanted), "edgesim {args:?}: `{wanted}` missing from stderr:\n{stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"), "edgesim {args:?} panicked:\n{stderr}");
        assert!(out.stdout.is_empty(), "edgesim {args:?} printed to stdout: {}", String::from_utf8_lossy(&out.stdout));
    }
}
