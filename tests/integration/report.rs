//! `edgesim report`: the HTML page of a sweep has its charts and tables, escapes what it shows,
//! is written atomically, and renders to something a person can see (headless Chromium, ignored
//! by default: `.ci/run` installs Debian's chromium and runs the `browser_` tests).

use crate::repo;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const HOSTILE: &str = r#"<script>alert("x")</script> & 'quotes' <b>"#;

/// An experiment file in `dir` (named `name.toml`) whose model is the repository's seed incident.
fn experiment(dir: &Path, name: &str, body: &str) -> PathBuf {
    let model = repo("models/seed-incident.toml");
    let text = format!("model = {}\n{body}", toml_string(&model.display().to_string()));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// tiny.toml with a description that needs escaping.
fn tiny_body() -> String {
    let tiny = std::fs::read_to_string(repo("experiments/tiny.toml")).unwrap();
    let mut out = format!("description = {}\n", toml_string(HOSTILE));
    for line in tiny.lines() {
        if line.starts_with("description") || line.starts_with("model") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn edgesim(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_edgesim")).args(args).output().expect("edgesim runs");
    out
}

fn ok(args: &[&str]) {
    let out = edgesim(args);
    assert!(out.status.success(), "edgesim {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs `exp` as a sweep into `dir/out` and its report into `dir/report.html`.
fn sweep_and_report(dir: &Path, exp: &Path) -> (PathBuf, String) {
    let out = dir.join("out");
    ok(&["sweep", exp.to_str().unwrap(), "--out", out.to_str().unwrap(), "--no-progress"]);
    let page = dir.join("report.html");
    ok(&["report", out.to_str().unwrap(), "--out", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    (page, html)
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// Elements open and close in order (void elements aside): a broken escape or a missing close
/// tag shows up here.
fn assert_balanced(html: &str) {
    const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
    let mut stack: Vec<String> = vec![];
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').expect("an unclosed `<`");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack.pop().unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        assert!(!name.is_empty(), "`<{tag}>` is not a tag: unescaped `<` in text?");
        if tag.ends_with('/') || VOID.contains(&name.as_str()) {
            continue;
        }
        stack.push(name);
    }
    assert!(stack.is_empty(), "never closed: {stack:?}");
}

#[test]
fn report_of_a_tiny_sweep_has_heatmaps_boundaries_and_the_recommendation() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "tiny-report", &tiny_body());
    let (page, html) = sweep_and_report(tmp.path(), &exp);

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_balanced(&html);

    // Self-contained: no script, no stylesheet or image from elsewhere.
    assert!(!html.to_lowercase().contains("<script"), "a script element (or an unescaped description)");
    for bad in ["<link", " src=", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(bad), "the page loads something: {bad}");
    }
    // The hostile description is shown, escaped.
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quotes&#39; &lt;b&gt;"), "description not escaped as expected");

    // Heatmaps of the 2 x 2 plane (edge deadline x token timeout), one cell per point.
    let heatmaps = count(&html, "class=\"heatmap\"");
    assert!(heatmaps >= 4, "{heatmaps} heatmaps");
    assert!(count(&html, "<svg") > heatmaps, "heatmaps and the Pareto chart");
    assert_eq!(count(&html, "<rect class=\"cell\""), 4 * heatmaps);
    assert!(html.contains("The swept plane: components.edge.deadline × token_timeout"));
    // Token timeout 8 s revokes in a replication: that column is infeasible, hatched, and the
    // boundary between 8 s and 30 s is drawn on every heatmap.
    assert_eq!(count(&html, "<rect class=\"infeasible\""), 2 * heatmaps);
    assert!(count(&html, "class=\"boundary feasible-boundary\"") >= 2 * heatmaps);
    assert!(html.contains("class=\"boundary constraint-boundary\""), "family_revocations == 0 has its own boundary on P(revocation)");
    assert!(html.contains("P(revocation)"));
    assert_eq!(count(&html, "<rect class=\"recommended\""), heatmaps, "the recommended cell is outlined on each heatmap");

    // The recommendation: the best point, its confidence, the ranked table.
    assert!(html.contains("<strong>Recommended:</strong> components.edge.deadline = 10s, token_timeout = 30s"));
    assert!(html.contains("0 of 2 runs violated a constraint"));
    assert!(html.contains("≤ <strong>0.6576</strong>"), "upper Wilson bound for 0 of 2");
    let table = &html[html.find("id=\"recommendation-table\"").expect("recommendation table")..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(count(table, "<tr>"), 1 + 2, "header and the 2 feasible points");
    assert!(html.contains("id=\"pareto\""));
    assert!(html.contains("class=\"pt front-pt\""));
    assert!(!html.contains("id=\"advice-table\""), "tiny is not the seed-advice experiment");

    // Deterministic, written atomically (no temporary file left beside it).
    let again = tmp.path().join("again.html");
    ok(&["report", tmp.path().join("out").to_str().unwrap(), "--out", again.to_str().unwrap()]);
    assert_eq!(std::fs::read(&page).unwrap(), std::fs::read(&again).unwrap());
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Default output: SWEEP_DIR/report.html.
    ok(&["report", tmp.path().join("out").to_str().unwrap()]);
    assert!(tmp.path().join("out/report.html").is_file());
}

#[test]
fn report_of_an_advice_sweep_has_the_advice_table() {
    let tmp = tempfile::tempdir().unwrap();
    let body = r#"description = "a small seed-advice"
seed = 3
replications = 3
set = { "simulation.duration" = "4m" }
metrics = ["success_rate", "latency.p99_ms", "family_revocations", "duplicate_side_effects"]
constraints = ["family_revocations == 0", "success_rate >= 0.99"]
objective = ["maximize success_rate", "minimize latency.p99_ms"]

[[axis]]
name = "token_timeout"
path = "components.webhook.token_endpoint.timeout"
values = ["8s", "30s"]

[[axis]]
name = "grace"
path = "components.idp.grace"
values = ["0s", "30s", "60s"]
"#;
    let exp = experiment(tmp.path(), "seed-advice-mini", body);
    let (_, html) = sweep_and_report(tmp.path(), &exp);
    assert_balanced(&html);
    let table = &html[html.find("id=\"advice-table\"").expect("advice table")..];
    let table = &table[..table.find("</table>").unwrap()];
    // The seed model's own settings (8 s, and Okta's 30 s grace, the second level) are the
    // baseline; each other level alone is a row.
    assert!(table.contains("the seed incident as modelled (baseline)"));
    assert!(table.contains("token_timeout=8s grace=30s"), "baseline found by loading the model");
    assert!(table.contains("the webhook&#39;s token-client timeout 30 s"));
    assert!(table.contains("no grace window (RFC 9700 strict)"));
    assert!(table.contains("grace window 60 s"));
    assert!(count(table, "<tr") >= 1 + 1 + 3);
}

#[test]
fn report_refuses_a_directory_that_is_not_a_finished_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let out = edgesim(&["report", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a sweep output directory"));
    let out = edgesim(&["report", tmp.path().join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
}

/// Runs headless Chromium on `page` and returns the screenshot.
fn screenshot(page: &Path, dir: &Path) -> PathBuf {
    let chromium = Path::new("/usr/bin/chromium");
    assert!(chromium.exists(), "/usr/bin/chromium is missing: apt-get install chromium (.ci/run does)");
    let png = dir.join("shot.png");
    let profile = dir.join("profile");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=1280,2000",
            &format!("file://{}", page.display()),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(png.is_file(), "chromium wrote no screenshot");
    png
}

#[test]
#[ignore = "needs Debian's chromium; .ci/run installs it and runs ignored browser tests"]
fn browser_report_renders_charts_in_headless_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = experiment(tmp.path(), "tiny-browser", &tiny_body());
    let (page, _) = sweep_and_report(tmp.path(), &exp);
    let png = screenshot(&page, tmp.path());

    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2000));
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()].chunks(channels).map(|p| [p[0], p[1], p[2]]).collect();
    let non_white = pixels.iter().filter(|p| p.iter().any(|c| *c < 245)).count() as f64 / pixels.len() as f64;
    let distinct: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
    // Viridis cells: strongly coloured pixels (not grey text), both dark purple and yellow ends.
    let coloured = pixels.iter().filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 80).count();
    let yellow = pixels.iter().filter(|p| p[0] > 230 && p[1] > 210 && p[2] < 80).count();
    let purple = pixels.iter().filter(|p| p[0] < 90 && p[1] < 30 && p[2] > 70).count();
    eprintln!(
        "screenshot: {:.1}% non-white, {} distinct colours, {coloured} coloured pixels, {yellow} yellow, {purple} purple",
        non_white * 100.0,
        distinct.len()
    );
    assert!(non_white > 0.05, "the page looks blank: {:.2}% non-white", non_white * 100.0);
    assert!(distinct.len() > 200, "only {} distinct colours", distinct.len());
    assert!(coloured > 20_000, "the heatmaps are not drawn: {coloured} coloured pixels");
    assert!(yellow > 2_000 && purple > 2_000, "both ends of the colour scale should show: {yellow} yellow, {purple} purple");
}
