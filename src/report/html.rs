//! `edgesim report SWEEP_DIR [--out FILE]`: one self-contained HTML page about a finished sweep,
//! for people who want to look rather than read CSV.
//!
//! The page holds, from the sweep directory's own files (`manifest.json`, `experiment.toml`,
//! `model.toml`, `summary.csv`, `results.csv`, `recommendation.json`):
//!
//! - the recommendation: the best feasible point, its objective means with their 95 % intervals
//!   and its confidence (the 95 % upper Wilson bound of P(some constraint is violated in a run));
//!   the ranked points as a table;
//! - heatmaps of the swept plane: the two axes with the most levels (a sampled numeric axis with
//!   many distinct values is cut into bins), every other axis aggregated (a cell shows the mean
//!   of its points' means); cells with no feasible point are hatched, the boundary of the
//!   feasible region is a solid line and each constraint's own boundary a dashed one, the
//!   recommended point's cell is outlined;
//! - the Pareto front of the first two objectives, the feasible region per axis level;
//! - for the seed-advice experiment (by name, or by its axes), the advice table: each claim of
//!   the seed thread applied alone to the seed model, with P(revocation) and its Wilson interval.
//!
//! Charts are inline SVG drawn here; the page has no script and loads nothing. Every text that
//! comes from a file is escaped. The page is written to a temporary file beside the target and
//! renamed into place.

use crate::sweep::experiment::{Design, ExperimentSpec, Level};
use crate::sweep::expr::Direction;
use crate::sweep::recommend::sig;
use crate::sweep::stats::{wilson95, Proportion, Z_95};
use crate::sweep::store::Manifest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A finished sweep's output directory (what `edgesim sweep EXPERIMENT --out DIR` or
    /// `edgesim merge` wrote).
    pub sweep_dir: PathBuf,
    /// Where to write the page (default: SWEEP_DIR/report.html).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The sweep directory is missing, incomplete or unreadable.
    #[error("{0}")]
    Input(String),
    /// The page could not be written.
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
}

/// `edgesim report`: exit 0, 1 when the page cannot be written, 2 for a bad sweep directory.
pub fn main(args: ReportArgs) -> ExitCode {
    let out = args.out.clone().unwrap_or_else(|| args.sweep_dir.join("report.html"));
    match write_report(&args.sweep_dir, &out) {
        Ok(()) => {
            eprintln!("wrote {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e @ ReportError::Input(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e @ ReportError::Write { .. }) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// Renders the report of the sweep in `dir` and writes it to `out` atomically.
pub fn write_report(dir: &Path, out: &Path) -> Result<(), ReportError> {
    let html = render(dir)?;
    let werr = |e: crate::sweep::SweepError| ReportError::Write { path: out.display().to_string(), message: e.to_string() };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ReportError::Write { path: out.display().to_string(), message: e.to_string() })?;
    }
    crate::sweep::store::write_atomic(out, html.as_bytes()).map_err(werr)
}

/// The report of the sweep in `dir`, as one HTML document.
pub fn render(dir: &Path) -> Result<String, ReportError> {
    let sweep = Sweep::load(dir)?;
    Ok(sweep.html())
}

// ---------------------------------------------------------------------------------------------
// Reading the sweep directory

/// One point of `summary.csv`, with what `results.csv` adds.
struct Point {
    id: u64,
    levels: Vec<String>,
    numbers: Vec<Option<f64>>,
    errors: u64,
    /// Per metric of the experiment: mean and 95 % interval.
    metrics: Vec<Option<(f64, Option<(f64, f64)>)>>,
    any: Option<Proportion>,
    feasible: bool,
    /// Per constraint: holds on the replication means.
    holds: Vec<bool>,
    /// Runs with `family_revocations > 0`, of the runs with a value.
    revoked: Option<(u64, u64)>,
}

struct Sweep {
    dir: PathBuf,
    manifest: Manifest,
    spec: ExperimentSpec,
    rec: Value,
    model_text: Option<String>,
    points: Vec<Point>,
}

fn input(msg: impl Into<String>) -> ReportError {
    ReportError::Input(msg.into())
}

fn number(cell: &str) -> Option<f64> {
    match cell {
        "true" => Some(1.0),
        "false" => Some(0.0),
        s => s.parse::<f64>().ok().filter(|x| x.is_finite()),
    }
}

impl Sweep {
    fn load(dir: &Path) -> Result<Sweep, ReportError> {
        if !dir.is_dir() {
            return Err(input(format!("{}: no such directory (give the --out directory of `edgesim sweep`)", dir.display())));
        }
        let manifest = Manifest::read(dir).map_err(|e| input(e.to_string()))?.ok_or_else(|| {
            input(format!(
                "{}: no {}: not a sweep output directory (`edgesim sweep EXPERIMENT --out DIR` writes one)",
                dir.display(),
                crate::sweep::store::MANIFEST
            ))
        })?;
        for f in ["summary.csv", "recommendation.json"] {
            if !dir.join(f).is_file() {
                return Err(input(format!(
                    "{}: no {f}: the sweep is not complete (rerun `edgesim sweep` with the same --out, or `edgesim merge` its shards)",
                    dir.display()
                )));
            }
        }
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).map_err(|e| input(format!("{}: {e}", dir.join(f).display())));
        let text = read("experiment.toml")?;
        let spec = ExperimentSpec::parse(&text, &dir.join("experiment.toml").display().to_string(), &manifest.experiment).map_err(|e| input(e.to_string()))?;
        let rec: Value =
            serde_json::from_str(&read("recommendation.json")?).map_err(|e| input(format!("{}: not JSON ({e})", dir.join("recommendation.json").display())))?;
        let model_text = read("model.toml").ok();
        let mut sweep = Sweep { dir: dir.to_path_buf(), manifest, spec, rec, model_text, points: vec![] };
        sweep.points = sweep.read_summary()?;
        sweep.read_results()?;
        Ok(sweep)
    }

    fn read_summary(&self) -> Result<Vec<Point>, ReportError> {
        let path = self.dir.join("summary.csv");
        let bad = |what: String| input(format!("{}: {what}", path.display()));
        let mut r = csv::Reader::from_path(&path).map_err(|e| bad(e.to_string()))?;
        let header = r.headers().map_err(|e| bad(e.to_string()))?.clone();
        let col = |name: &str| header.iter().position(|h| h == name);
        let need = |name: &str| col(name).ok_or_else(|| bad(format!("no column `{name}` (written by another edgesim version?)")));
        let spec = &self.spec;
        let point_col = need("point")?;
        let axis_cols = spec.axes.iter().map(|a| need(&a.name)).collect::<Result<Vec<_>, _>>()?;
        let metric_cols: Vec<(Option<usize>, Option<usize>, Option<usize>)> =
            spec.metrics.iter().map(|m| (col(&format!("{m}.mean")), col(&format!("{m}.ci95_low")), col(&format!("{m}.ci95_high")))).collect();
        let (runs_col, errors_col, feasible_col) = (need("runs")?, need("errors")?, need("feasible")?);
        let any_cols = ["any.violations", "any.p", "any.p95_low", "any.p95_high"].map(col);
        let mut points = vec![];
        for rec in r.records() {
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            let get = |i: usize| rec.get(i).unwrap_or("");
            let id: u64 = get(point_col).parse().map_err(|_| bad(format!("`{}` is not a point number", get(point_col))))?;
            if id >= spec.points() {
                return Err(bad(format!("point {id} is not below the experiment's {} points", spec.points())));
            }
            let levels: Vec<String> = axis_cols.iter().map(|c| get(*c).to_string()).collect();
            let numbers = spec.point(id).into_iter().map(|l: Level| l.number).collect();
            let runs = get(runs_col).parse().unwrap_or(0);
            let metrics = metric_cols
                .iter()
                .map(|(m, lo, hi)| {
                    let mean = m.and_then(|i| number(get(i)))?;
                    let ci = match (lo.and_then(|i| number(get(i))), hi.and_then(|i| number(get(i)))) {
                        (Some(l), Some(h)) => Some((l, h)),
                        _ => None,
                    };
                    Some((mean, ci))
                })
                .collect::<Vec<_>>();
            let any = match any_cols {
                [Some(k), Some(p), Some(lo), Some(hi)] => match (get(k).parse::<u64>(), number(get(p)), number(get(lo)), number(get(hi))) {
                    (Ok(k), Some(p), Some(low), Some(high)) => Some(Proportion { k, n: runs, p, low, high }),
                    _ => None,
                },
                _ => None,
            };
            let mean_of = |name: &str| spec.metrics.iter().position(|m| m == name).and_then(|i| metrics[i]).map(|m| m.0);
            let holds = spec.constraints.iter().map(|c| c.holds(mean_of)).collect();
            points.push(Point {
                id,
                levels,
                numbers,
                errors: get(errors_col).parse().unwrap_or(0),
                metrics,
                any,
                feasible: get(feasible_col) == "true",
                holds,
                revoked: None,
            });
        }
        if points.is_empty() {
            return Err(bad("no points".into()));
        }
        Ok(points)
    }

    /// P(revocation) per point needs the runs: streamed from `results.csv` when the experiment
    /// keeps `family_revocations`.
    fn read_results(&mut self) -> Result<(), ReportError> {
        let Some(m) = self.spec.metrics.iter().position(|m| m == "family_revocations") else { return Ok(()) };
        let path = self.dir.join("results.csv");
        let Ok(mut r) = csv::Reader::from_path(&path) else { return Ok(()) };
        let column = 3 + self.spec.axes.len() + m;
        let at: BTreeMap<u64, usize> = self.points.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
        let mut counts = vec![(0u64, 0u64); self.points.len()];
        let mut rec = csv::StringRecord::new();
        loop {
            match r.read_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(input(format!("{}: {e}", path.display()))),
            }
            let (Some(p), Some(v)) = (rec.get(0).and_then(|s| s.parse::<u64>().ok()), rec.get(column).and_then(number)) else { continue };
            if let Some(&i) = at.get(&p) {
                counts[i].1 += 1;
                counts[i].0 += u64::from(v > 0.0);
            }
        }
        for (p, c) in self.points.iter_mut().zip(counts) {
            p.revoked = (c.1 > 0).then_some(c);
        }
        Ok(())
    }

    fn metric_index(&self, name: &str) -> Option<usize> {
        self.spec.metrics.iter().position(|m| m == name)
    }

    fn mean(&self, p: &Point, name: &str) -> Option<f64> {
        self.metric_index(name).and_then(|i| p.metrics[i]).map(|m| m.0)
    }

    fn mean_ci(&self, p: &Point, name: &str) -> String {
        match self.metric_index(name).and_then(|i| p.metrics[i]) {
            Some((m, Some((lo, hi)))) => format!("{} [{}, {}]", sig(m), sig(lo), sig(hi)),
            Some((m, None)) => sig(m),
            None => "-".into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/// Escapes text for HTML and SVG (element content and quoted attributes). Control characters
/// that XML forbids become U+FFFD.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            '\n' | '\t' | '\r' => o.push(c),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// Width of a label in pixels at 12 px, roughly.
fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * 6.8
}

fn wilson_text(p: &Proportion) -> String {
    format!("{} [{}, {}]", sig(p.p), sig(p.low), sig(p.high))
}

/// Viridis (matplotlib's default colour map), 9 stops, linearly interpolated.
const VIRIDIS: [(u8, u8, u8); 9] =
    [(68, 1, 84), (72, 40, 120), (62, 73, 137), (49, 104, 142), (38, 130, 142), (31, 158, 137), (53, 183, 121), (110, 206, 88), (253, 231, 37)];

fn viridis(t: f64) -> (u8, u8, u8) {
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.5 };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * f).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

// ---------------------------------------------------------------------------------------------
// The plane

/// Levels per axis with more distinct values than this are binned (numeric) for the heatmaps.
const MAX_LEVELS: usize = 12;
const BINS: usize = 8;

/// How the points fall on one axis: category labels and each point's category.
struct Categories {
    labels: Vec<String>,
    of_point: Vec<usize>,
    binned: bool,
}

fn categorize(sweep: &Sweep, a: usize) -> Categories {
    let mut labels: Vec<String> = vec![];
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut of_point = Vec::with_capacity(sweep.points.len());
    for p in &sweep.points {
        let l = p.levels[a].as_str();
        let i = *index.entry(l).or_insert_with(|| {
            labels.push(l.to_string());
            labels.len() - 1
        });
        of_point.push(i);
    }
    let numbers: Option<Vec<f64>> = sweep.points.iter().map(|p| p.numbers[a]).collect();
    match numbers {
        Some(xs) if labels.len() > MAX_LEVELS => {
            let lo = xs.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let w = (hi - lo) / BINS as f64;
            let labels = (0..BINS).map(|i| format!("{} to {}", sig(lo + w * i as f64), sig(lo + w * (i + 1) as f64))).collect();
            let of_point = xs.iter().map(|x| if w > 0.0 { (((x - lo) / w).floor() as usize).min(BINS - 1) } else { 0 }).collect();
            Categories { labels, of_point, binned: true }
        }
        Some(xs) if sweep.spec.design != Design::Grid => {
            // Sampled designs meet levels in no particular order: sort them by value.
            let mut value = vec![f64::NAN; labels.len()];
            for (x, c) in xs.iter().zip(&of_point) {
                value[*c] = *x;
            }
            let mut order: Vec<usize> = (0..labels.len()).collect();
            order.sort_by(|i, j| value[*i].total_cmp(&value[*j]));
            let mut rank = vec![0; labels.len()];
            for (r, i) in order.iter().enumerate() {
                rank[*i] = r;
            }
            Categories { labels: order.iter().map(|i| labels[*i].clone()).collect(), of_point: of_point.iter().map(|c| rank[*c]).collect(), binned: false }
        }
        _ => Categories { labels, of_point, binned: false },
    }
}

/// The heatmaps' plane: rows from one axis, columns from another, other axes aggregated.
struct Plane {
    row_axis: Option<usize>,
    col_axis: usize,
    rows: Categories,
    cols: Categories,
    /// Point indices per cell, row-major.
    cells: Vec<Vec<usize>>,
}

impl Plane {
    fn new(sweep: &Sweep) -> Option<Plane> {
        let n = sweep.spec.axes.len();
        if n == 0 {
            return None;
        }
        let cats: Vec<Categories> = (0..n).map(|a| categorize(sweep, a)).collect();
        // The two axes with the most levels; ties go to the earlier axis. The earlier of the two
        // gives the rows (as in recommendation.md).
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|a| (std::cmp::Reverse(cats[*a].labels.len()), *a));
        let mut cats: Vec<Option<Categories>> = cats.into_iter().map(Some).collect();
        let (row_axis, col_axis) = if n == 1 {
            (None, 0)
        } else {
            let (a, b) = (order[0].min(order[1]), order[0].max(order[1]));
            (Some(a), b)
        };
        let cols = cats[col_axis].take().expect("present");
        let rows = match row_axis {
            Some(a) => cats[a].take().expect("present"),
            None => Categories { labels: vec!["all points".into()], of_point: vec![0; sweep.points.len()], binned: false },
        };
        let mut cells = vec![vec![]; rows.labels.len() * cols.labels.len()];
        for i in 0..sweep.points.len() {
            cells[rows.of_point[i] * cols.labels.len() + cols.of_point[i]].push(i);
        }
        Some(Plane { row_axis, col_axis, rows, cols, cells })
    }

    fn nrows(&self) -> usize {
        self.rows.labels.len()
    }

    fn ncols(&self) -> usize {
        self.cols.labels.len()
    }
}

/// What one heatmap shows.
struct HeatSpec {
    title: String,
    note: String,
    value: Box<dyn Fn(&Sweep, &Point) -> Option<f64>>,
    /// Constraints whose own boundary is drawn (dashed).
    constraints: Vec<usize>,
    /// Cells show `k/n` feasible points instead of the value.
    feasible_counts: bool,
}

fn heat_specs(sweep: &Sweep) -> Vec<HeatSpec> {
    let spec = &sweep.spec;
    let mut v: Vec<HeatSpec> = vec![];
    let constraints_on =
        |metric: &str| -> Vec<usize> { spec.constraints.iter().enumerate().filter(|(_, c)| c.metrics().any(|m| m == metric)).map(|(i, _)| i).collect() };
    if !spec.constraints.is_empty() {
        v.push(HeatSpec {
            title: "Feasible points".into(),
            note: "share of the cell's points that meet every constraint".into(),
            value: Box::new(|_, p| Some(if p.feasible { 1.0 } else { 0.0 })),
            constraints: vec![],
            feasible_counts: true,
        });
    }
    if sweep.points.iter().any(|p| p.revoked.is_some()) {
        v.push(HeatSpec {
            title: "P(revocation)".into(),
            note: "share of runs in which a token family was revoked (family_revocations > 0)".into(),
            value: Box::new(|_, p| p.revoked.map(|(k, n)| k as f64 / n as f64)),
            constraints: constraints_on("family_revocations"),
            feasible_counts: false,
        });
    }
    if !spec.constraints.is_empty() {
        v.push(HeatSpec {
            title: "P(some constraint violated)".into(),
            note: "share of runs that violate at least one constraint".into(),
            value: Box::new(|_, p| p.any.map(|a| a.p)),
            constraints: vec![],
            feasible_counts: false,
        });
    }
    let mut names: Vec<String> = vec![];
    for m in ["duplicate_side_effects", "latency.p99_ms"] {
        if spec.metrics.iter().any(|x| x == m) {
            names.push(m.into());
        }
    }
    names.extend(spec.objectives.iter().map(|o| o.metric.clone()));
    for c in &spec.constraints {
        names.extend(c.metrics().map(String::from));
    }
    if spec.metrics.iter().any(|x| x == "success_rate") {
        names.push("success_rate".into());
    }
    if names.is_empty() {
        names.extend(spec.metrics.iter().take(3).cloned());
    }
    for name in names {
        if v.len() >= 8 {
            break;
        }
        if v.iter().any(|h| h.title == format!("mean {name}")) || (name == "family_revocations" && v.iter().any(|h| h.title == "P(revocation)")) {
            continue;
        }
        let direction = spec.objectives.iter().find(|o| o.metric == name).map(|o| match o.direction {
            Direction::Minimize => "; objective: minimize",
            Direction::Maximize => "; objective: maximize",
        });
        let key = name.clone();
        v.push(HeatSpec {
            title: format!("mean {name}"),
            note: format!("mean over the cell's points of each point's replication mean{}", direction.unwrap_or("")),
            value: Box::new(move |s, p| s.mean(p, &key)),
            constraints: constraints_on(&name),
            feasible_counts: false,
        });
    }
    v
}

/// Where the recommended point is, if any.
fn recommended_point(sweep: &Sweep) -> Option<u64> {
    sweep.rec.get("ranked")?.as_array()?.first()?.get("point")?.as_u64()
}

fn heatmap_svg(o: &mut String, id: usize, sweep: &Sweep, plane: &Plane, h: &HeatSpec) {
    let (nr, nc) = (plane.nrows(), plane.ncols());
    let values: Vec<Option<f64>> = plane
        .cells
        .iter()
        .map(|pts| {
            let xs: Vec<f64> = pts.iter().filter_map(|i| (h.value)(sweep, &sweep.points[*i])).collect();
            (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
        })
        .collect();
    let feasible: Vec<(usize, usize)> = plane.cells.iter().map(|pts| (pts.iter().filter(|i| sweep.points[**i].feasible).count(), pts.len())).collect();
    let has_constraints = !sweep.spec.constraints.is_empty();
    let lo = values.iter().flatten().cloned().fold(f64::INFINITY, f64::min);
    let hi = values.iter().flatten().cloned().fold(f64::NEG_INFINITY, f64::max);
    let t_of = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
    let rec_point = recommended_point(sweep);
    let rec_cell = rec_point.and_then(|rp| plane.cells.iter().position(|pts| pts.iter().any(|i| sweep.points[*i].id == rp)));

    let cw = (460.0 / nc as f64).clamp(36.0, 76.0);
    let ch = (320.0 / nr as f64).clamp(22.0, 52.0);
    let max_row = plane.rows.labels.iter().map(|l| text_width(l)).fold(0.0, f64::max);
    let max_col = plane.cols.labels.iter().map(|l| text_width(l)).fold(0.0, f64::max);
    let left = (max_row + 16.0).clamp(56.0, 240.0);
    let top = 44.0;
    let (gw, gh) = (cw * nc as f64, ch * nr as f64);
    let rotate = max_col > cw - 4.0;
    let col_space = if rotate { (max_col * 0.75 + 14.0).min(150.0) } else { 20.0 };
    let bottom = col_space + 26.0;
    let legend_x = left + gw + 22.0;
    let width = (legend_x + 14.0 + 70.0).max(left + text_width(&h.title) + 10.0);
    let height = top + gh + bottom;
    let row_name = plane.row_axis.map(|a| sweep.spec.axes[a].name.clone()).unwrap_or_default();
    let col_name = sweep.spec.axes[plane.col_axis].name.clone();
    let binned = |c: &Categories| if c.binned { " (binned)" } else { "" };

    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" id="heatmap-{id}" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" aria-labelledby="heatmap-{id}-title">"#
    );
    let _ = writeln!(o, r#"<title id="heatmap-{id}-title">{}</title>"#, esc(&format!("{} by {row_name} and {col_name}", h.title)));
    let _ = writeln!(o, "<defs>");
    let _ = writeln!(
        o,
        r##"<pattern id="hatch-{id}" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="1.5" y1="0" x2="1.5" y2="8" stroke="#ffffff" stroke-width="2.5" stroke-opacity="0.9"/><line x1="4.5" y1="0" x2="4.5" y2="8" stroke="#1d1d1f" stroke-width="1.6" stroke-opacity="0.6"/></pattern>"##
    );
    let _ = write!(o, r#"<linearGradient id="scale-{id}" x1="0" y1="1" x2="0" y2="0">"#);
    for (i, c) in VIRIDIS.iter().enumerate() {
        let _ = write!(o, r#"<stop offset="{:.3}" stop-color="{}"/>"#, i as f64 / (VIRIDIS.len() - 1) as f64, hex(*c));
    }
    let _ = writeln!(o, "</linearGradient>\n</defs>");
    let _ = writeln!(o, r#"<text class="chart-title" x="4" y="16">{}</text>"#, esc(&h.title));
    if !row_name.is_empty() {
        let _ = writeln!(o, r#"<text class="axis-name" x="4" y="{:.1}">{} ↓</text>"#, top - 8.0, esc(&format!("{row_name}{}", binned(&plane.rows))));
    }
    // Cells.
    for r in 0..nr {
        for c in 0..nc {
            let k = r * nc + c;
            let (x, y) = (left + cw * c as f64, top + ch * r as f64);
            let fill = values[k].map(|v| hex(viridis(t_of(v)))).unwrap_or_else(|| "#d9d9d9".into());
            let (f, n) = feasible[k];
            let shown = match values[k] {
                _ if n == 0 => "no point".to_string(),
                _ if h.feasible_counts => format!("{f}/{n}"),
                Some(v) => sig(v),
                None => "-".into(),
            };
            let tip = format!(
                "{row_name}{}{}, {col_name} = {}: {} = {}; feasible points {f}/{n}",
                if row_name.is_empty() { "" } else { " = " },
                if row_name.is_empty() { String::new() } else { plane.rows.labels[r].clone() },
                plane.cols.labels[c],
                h.title,
                values[k].map(sig).unwrap_or_else(|| "-".into())
            );
            let _ = writeln!(
                o,
                r##"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}" stroke="#ffffff" stroke-width="1"><title>{}</title></rect>"##,
                esc(&tip)
            );
            if has_constraints && n > 0 && f == 0 {
                let _ = writeln!(o, r#"<rect class="infeasible" x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="url(#hatch-{id})"/>"#);
            }
            if cw >= 36.0 && ch >= 18.0 {
                let dark = values[k].map(|v| t_of(v) < 0.62).unwrap_or(false);
                let _ = writeln!(
                    o,
                    r#"<text class="cell-value{}" x="{:.1}" y="{:.1}" text-anchor="middle" dominant-baseline="central">{}</text>"#,
                    if dark { " on-dark" } else { "" },
                    x + cw / 2.0,
                    y + ch / 2.0,
                    esc(&shown)
                );
            }
        }
    }
    // Boundaries: between neighbouring cells on either side of a condition.
    let boundary = |o: &mut String, inside: &dyn Fn(usize) -> Option<bool>, class: &str| {
        for r in 0..nr {
            for c in 0..nc {
                let k = r * nc + c;
                let Some(a) = inside(k) else { continue };
                if c + 1 < nc {
                    if let Some(b) = inside(k + 1) {
                        if a != b {
                            let x = left + cw * (c + 1) as f64;
                            let _ = writeln!(
                                o,
                                r#"<line class="{class}" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/>"#,
                                top + ch * r as f64,
                                top + ch * (r + 1) as f64
                            );
                        }
                    }
                }
                if r + 1 < nr {
                    if let Some(b) = inside(k + nc) {
                        if a != b {
                            let y = top + ch * (r + 1) as f64;
                            let _ = writeln!(
                                o,
                                r#"<line class="{class}" x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
                                left + cw * c as f64,
                                left + cw * (c + 1) as f64
                            );
                        }
                    }
                }
            }
        }
    };
    if has_constraints {
        boundary(o, &|k| (feasible[k].1 > 0).then_some(feasible[k].0 > 0), "boundary feasible-boundary");
        for ci in &h.constraints {
            let holds = |k: usize| -> Option<bool> {
                let pts = &plane.cells[k];
                (!pts.is_empty()).then(|| pts.iter().any(|i| sweep.points[*i].holds[*ci]))
            };
            boundary(o, &holds, "boundary constraint-boundary");
        }
    }
    if let Some(k) = rec_cell {
        let (r, c) = (k / nc, k % nc);
        let _ = writeln!(
            o,
            r#"<rect class="recommended" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>the recommended point is in this cell</title></rect>"#,
            left + cw * c as f64 + 2.5,
            top + ch * r as f64 + 2.5,
            cw - 5.0,
            ch - 5.0
        );
    }
    // Labels.
    for (r, l) in plane.rows.labels.iter().enumerate() {
        let _ = writeln!(
            o,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end" dominant-baseline="central">{}</text>"#,
            left - 6.0,
            top + ch * (r as f64 + 0.5),
            esc(l)
        );
    }
    for (c, l) in plane.cols.labels.iter().enumerate() {
        let x = left + cw * (c as f64 + 0.5);
        let y = top + gh + 14.0;
        if rotate {
            let _ = writeln!(o, r#"<text class="tick" x="{x:.1}" y="{y:.1}" text-anchor="end" transform="rotate(-35 {x:.1} {y:.1})">{}</text>"#, esc(l));
        } else {
            let _ = writeln!(o, r#"<text class="tick" x="{x:.1}" y="{y:.1}" text-anchor="middle">{}</text>"#, esc(l));
        }
    }
    let _ = writeln!(
        o,
        r#"<text class="axis-name" x="{:.1}" y="{:.1}" text-anchor="middle">{} →</text>"#,
        left + gw / 2.0,
        top + gh + col_space + 18.0,
        esc(&format!("{col_name}{}", binned(&plane.cols)))
    );
    // Colour scale.
    if lo.is_finite() {
        let _ = writeln!(
            o,
            r##"<rect class="legend" x="{legend_x:.1}" y="{top:.1}" width="14" height="{gh:.1}" fill="url(#scale-{id})" stroke="#888888" stroke-width="0.5"/>"##
        );
        let fmt = |v: f64| if h.feasible_counts { format!("{:.0}%", v * 100.0) } else { sig(v) };
        let _ = writeln!(o, r#"<text class="tick" x="{:.1}" y="{:.1}" dominant-baseline="central">{}</text>"#, legend_x + 18.0, top + 5.0, esc(&fmt(hi)));
        let _ = writeln!(o, r#"<text class="tick" x="{:.1}" y="{:.1}" dominant-baseline="central">{}</text>"#, legend_x + 18.0, top + gh - 5.0, esc(&fmt(lo)));
    }
    let _ = writeln!(o, "</svg>");
}

// ---------------------------------------------------------------------------------------------
// Pareto front

fn pareto_svg(o: &mut String, sweep: &Sweep) -> bool {
    let spec = &sweep.spec;
    if spec.objectives.len() < 2 {
        return false;
    }
    let (ox, oy) = (&spec.objectives[0], &spec.objectives[1]);
    let front: Vec<u64> = sweep
        .rec
        .get("pareto_front")
        .and_then(|f| f.get("points"))
        .and_then(|p| p.as_array())
        .map(|a| a.iter().filter_map(|x| x.get("point").and_then(|p| p.as_u64())).collect())
        .unwrap_or_default();
    let pts: Vec<(f64, f64, &Point)> = sweep.points.iter().filter_map(|p| Some((sweep.mean(p, &ox.metric)?, sweep.mean(p, &oy.metric)?, p))).collect();
    if pts.is_empty() {
        return false;
    }
    let range = |xs: &mut dyn Iterator<Item = f64>| {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in xs {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            let pad = (lo.abs() * 0.05).max(1e-3);
            (lo - pad, hi + pad)
        } else {
            let pad = (hi - lo) * 0.06;
            // Metrics that cannot be negative (latencies, rates, counts) keep a non-negative axis.
            let low = if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad };
            (low, hi + pad)
        }
    };
    let (x0, x1) = range(&mut pts.iter().map(|p| p.0));
    let (y0, y1) = range(&mut pts.iter().map(|p| p.1));
    let (w, h, left, top, pw, ph) = (600.0, 380.0, 78.0, 30.0, 490.0, 290.0);
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * pw;
    let sy = |y: f64| top + ph - (y - y0) / (y1 - y0) * ph;
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="pareto" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="pareto-title">"#
    );
    let _ = writeln!(o, r#"<title id="pareto-title">{}</title>"#, esc(&format!("Pareto front: {} against {}", oy.metric, ox.metric)));
    let _ = writeln!(o, r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999999" stroke-width="0.8"/>"##);
    for i in 0..=4 {
        let fx = x0 + (x1 - x0) * i as f64 / 4.0;
        let fy = y0 + (y1 - y0) * i as f64 / 4.0;
        let _ = writeln!(o, r##"<line x1="{:.1}" y1="{top}" x2="{:.1}" y2="{:.1}" stroke="#e3e3e3" stroke-width="0.8"/>"##, sx(fx), sx(fx), top + ph);
        let _ = writeln!(o, r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#e3e3e3" stroke-width="0.8"/>"##, sy(fy), left + pw, sy(fy));
        let _ = writeln!(o, r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, sx(fx), top + ph + 16.0, esc(&sig(fx)));
        let _ =
            writeln!(o, r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end" dominant-baseline="central">{}</text>"#, left - 6.0, sy(fy), esc(&sig(fy)));
    }
    let dir = |d: Direction| if d == Direction::Minimize { "minimize" } else { "maximize" };
    let _ = writeln!(
        o,
        r#"<text class="axis-name" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        top + ph + 38.0,
        esc(&format!("{} ({})", ox.metric, dir(ox.direction)))
    );
    let _ = writeln!(
        o,
        r#"<text class="axis-name" x="14" y="{:.1}" text-anchor="middle" transform="rotate(-90 14 {:.1})">{}</text>"#,
        top + ph / 2.0,
        top + ph / 2.0,
        esc(&format!("{} ({})", oy.metric, dir(oy.direction)))
    );
    let tip = |p: &Point, x: f64, y: f64| {
        let axes: Vec<String> = spec.axes.iter().zip(&p.levels).map(|(a, l)| format!("{} = {l}", a.name)).collect();
        format!("point {}: {}; {} = {}, {} = {}{}", p.id, axes.join(", "), ox.metric, sig(x), oy.metric, sig(y), if p.feasible { "" } else { " (infeasible)" })
    };
    for (x, y, p) in pts.iter().filter(|p| !p.2.feasible) {
        let _ = writeln!(o, r#"<circle class="pt infeasible-pt" cx="{:.1}" cy="{:.1}" r="3"><title>{}</title></circle>"#, sx(*x), sy(*y), esc(&tip(p, *x, *y)));
    }
    for (x, y, p) in pts.iter().filter(|p| p.2.feasible && !front.contains(&p.2.id)) {
        let _ = writeln!(o, r#"<circle class="pt feasible-pt" cx="{:.1}" cy="{:.1}" r="4"><title>{}</title></circle>"#, sx(*x), sy(*y), esc(&tip(p, *x, *y)));
    }
    let mut fp: Vec<&(f64, f64, &Point)> = pts.iter().filter(|p| front.contains(&p.2.id)).collect();
    fp.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    if fp.len() > 1 {
        let path: Vec<String> = fp.iter().map(|p| format!("{:.1},{:.1}", sx(p.0), sy(p.1))).collect();
        let _ = writeln!(o, r#"<polyline class="front-line" points="{}"/>"#, path.join(" "));
    }
    for (x, y, p) in fp {
        let _ = writeln!(o, r#"<circle class="pt front-pt" cx="{:.1}" cy="{:.1}" r="6"><title>{}</title></circle>"#, sx(*x), sy(*y), esc(&tip(p, *x, *y)));
    }
    let lx = left + 8.0;
    let _ = writeln!(
        o,
        r##"<g class="key"><circle class="pt front-pt" cx="{lx}" cy="14" r="5"/><text class="tick" x="{}" y="14" dominant-baseline="central">Pareto front</text><circle class="pt feasible-pt" cx="{}" cy="14" r="4"/><text class="tick" x="{}" y="14" dominant-baseline="central">feasible</text><circle class="pt infeasible-pt" cx="{}" cy="14" r="3"/><text class="tick" x="{}" y="14" dominant-baseline="central">infeasible</text></g>"##,
        lx + 9.0,
        lx + 110.0,
        lx + 119.0,
        lx + 190.0,
        lx + 199.0
    );
    let _ = writeln!(o, "</svg>");
    true
}

// ---------------------------------------------------------------------------------------------
// The advice table (seed-advice)

fn is_advice(sweep: &Sweep) -> bool {
    let paths: Vec<&str> = sweep.spec.axes.iter().filter_map(|a| a.path.as_deref()).collect();
    sweep.manifest.experiment.contains("advice")
        || (paths.contains(&"components.webhook.token_cache.refresh")
            && paths.contains(&"components.idp.grace")
            && paths.contains(&"components.webhook.token_endpoint.timeout"))
}

/// What the seed thread said, for the seed-advice levels.
fn claim(axis: &str, level: &str) -> Option<&'static str> {
    Some(match (axis, level) {
        ("edge_deadline", "30s") => "Data Action timeout 30 s (the thread's first advice)",
        ("token_timeout", "30s") => "the webhook's token-client timeout 30 s (the same advice where the time is lost)",
        ("retries", "edge 3x exp 2s") => "3 retries, 2 s exponential backoff, at the Data Action",
        ("retries", "token 3x exp 2s") => "3 retries, 2 s exponential backoff, at the token client",
        ("refresh", "single-flight") => "serialize refreshes (single-flight)",
        ("grace", "0s") => "no grace window (RFC 9700 strict)",
        ("grace", "60s") => "grace window 60 s",
        ("encoding", "json") => "JSON refresh body instead of form",
        ("acknowledge", "async") => "return 200 at once, refresh asynchronously",
        ("idempotency", "keys on") => "idempotency keys",
        _ => return None,
    })
}

/// Per axis, the levels in order of first appearance, and which of them leaves the model as it
/// is (the baseline), found by loading the model with and without each level's overrides.
fn baseline_levels(sweep: &Sweep) -> Option<(Vec<Vec<Level>>, Vec<Option<usize>>)> {
    let spec = &sweep.spec;
    let text = sweep.model_text.as_deref()?;
    let mut levels: Vec<Vec<Level>> = vec![vec![]; spec.axes.len()];
    for p in &sweep.points {
        for (a, l) in spec.point(p.id).into_iter().enumerate() {
            if !levels[a].iter().any(|x| x.label == l.label) {
                levels[a].push(l);
            }
        }
    }
    let file = sweep.dir.join("model.toml").display().to_string();
    let load = |ov: &[crate::scenario::Override]| crate::scenario::load_str(text, &file, ov).ok().and_then(|m| serde_json::to_value(m).ok());
    let base = load(&spec.set)?;
    let own = levels
        .iter()
        .map(|ls| {
            ls.iter().position(|l| {
                let ov: Vec<_> = spec.set.iter().cloned().chain(l.overrides.iter().cloned()).collect();
                load(&ov).as_ref() == Some(&base)
            })
        })
        .collect();
    Some((levels, own))
}

fn advice_section(o: &mut String, sweep: &Sweep) {
    let spec = &sweep.spec;
    let Some((levels, own)) = baseline_levels(sweep) else {
        let _ = writeln!(o, "<p>The advice table needs model.toml in the sweep directory.</p>");
        return;
    };
    let base_labels: Vec<String> = levels.iter().zip(&own).map(|(ls, i)| ls[i.unwrap_or(0)].label.clone()).collect();
    let by_levels: BTreeMap<&[String], &Point> = sweep.points.iter().map(|p| (p.levels.as_slice(), p)).collect();
    let Some(base) = by_levels.get(base_labels.as_slice()).copied() else {
        let _ = writeln!(o, "<p>The sweep has no point with every axis at the model's own setting, so there is no baseline to compare with.</p>");
        return;
    };
    let missing: Vec<&str> = spec.axes.iter().zip(&own).filter(|(_, i)| i.is_none()).map(|(a, _)| a.name.as_str()).collect();
    let _ = writeln!(
        o,
        "<p>One change at a time from the seed model ({} replications each): every other axis stays at the model's own setting. P(revocation) is the share of runs in which a token family was revoked, with its 95&#160;% Wilson interval; other columns are means with their 95&#160;% t intervals. The last columns count the feasible points at that level over every combination of the other axes.</p>",
        spec.replications
    );
    if !missing.is_empty() {
        let _ = writeln!(o, "<p class=\"warn\">The model's own value is not a level of {}: the first level stands in for it.</p>", esc(&missing.join(", ")));
    }
    let has = |m: &str| sweep.metric_index(m).is_some();
    let extra: Vec<(&str, &str)> =
        [("orgs.B.unauthorized_401", "org B 401s"), ("duplicate_side_effects", "duplicates"), ("async_work.failed", "background work failed")]
            .into_iter()
            .filter(|(m, _)| has(m))
            .collect();
    // Feasible counts per (axis, level) over all points.
    let feasible_at = |a: usize, label: &str| {
        let pts: Vec<&Point> = sweep.points.iter().filter(|p| p.levels[a] == label).collect();
        (pts.iter().filter(|p| p.feasible).count(), pts.len())
    };
    let _ = writeln!(
        o,
        r#"<div class="scroll"><table class="advice" id="advice-table"><thead><tr><th>change from the seed model</th><th>setting</th><th>P(revocation) [95% CI]</th>"#
    );
    if has("success_rate") {
        let _ = write!(o, "<th>success rate [95% CI]</th>");
    }
    for (_, title) in &extra {
        let _ = write!(o, "<th>{}</th>", esc(title));
    }
    if has("latency.p99_ms") {
        let _ = write!(o, "<th>p99 ms</th>");
    }
    let _ = writeln!(o, "<th>feasible</th><th>verdict</th><th>feasible at this level, all combinations</th></tr></thead><tbody>");
    let p_rev = |p: &Point| p.revoked.map(|(k, n)| wilson95(k, n));
    let verdict = |p: &Point| -> String {
        if std::ptr::eq(p, base) {
            return "baseline".into();
        }
        let mut v: Vec<String> = vec![];
        match (p_rev(base), p_rev(p)) {
            (Some(b), Some(x)) if x.high < b.low => v.push("lowers the revocation risk".into()),
            (Some(b), Some(x)) if x.low > b.high => v.push("raises the revocation risk".into()),
            (Some(b), Some(x)) if x.k == 0 && b.k > 0 => v.push("no revocation seen (interval overlaps the baseline's)".into()),
            (Some(b), Some(x)) if (x.p - b.p).abs() < 1e-12 => v.push("revocation risk unchanged".into()),
            (Some(b), Some(x)) => v.push(format!("revocation risk {} → {} (intervals overlap)", sig(b.p), sig(x.p))),
            _ => {}
        }
        if let (Some(b), Some(x)) = (sweep.mean(base, "success_rate"), sweep.mean(p, "success_rate")) {
            if x < b - 0.01 {
                v.push("fewer calls succeed".into());
            }
        }
        if p.feasible && !base.feasible {
            v.push("meets every constraint".into());
        }
        v.join("; ")
    };
    let row = |o: &mut String, label: &str, setting: &str, p: &Point, level: Option<(usize, &str)>| {
        let _ = write!(o, "<tr{}><td>{}</td><td><code>{}</code></td>", if p.feasible { " class=\"ok\"" } else { "" }, esc(label), esc(setting));
        let _ = write!(o, "<td class=\"num\">{}</td>", p_rev(p).map(|w| wilson_text(&w)).unwrap_or_else(|| "-".into()));
        if has("success_rate") {
            let _ = write!(o, "<td class=\"num\">{}</td>", esc(&sweep.mean_ci(p, "success_rate")));
        }
        for (m, _) in &extra {
            let _ = write!(o, "<td class=\"num\">{}</td>", sweep.mean(p, m).map(sig).unwrap_or_else(|| "-".into()));
        }
        if has("latency.p99_ms") {
            let _ = write!(o, "<td class=\"num\">{}</td>", sweep.mean(p, "latency.p99_ms").map(sig).unwrap_or_else(|| "-".into()));
        }
        let across = match level {
            Some((a, l)) => {
                let (f, n) = feasible_at(a, l);
                format!("{f}/{n}")
            }
            None => String::new(),
        };
        let _ = writeln!(o, "<td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>", if p.feasible { "yes" } else { "no" }, esc(&verdict(p)), esc(&across));
    };
    row(
        o,
        "the seed incident as modelled (baseline)",
        &spec.axes.iter().zip(&base_labels).map(|(a, l)| format!("{}={l}", a.name)).collect::<Vec<_>>().join(" "),
        base,
        None,
    );
    for (a, axis) in spec.axes.iter().enumerate() {
        for l in &levels[a] {
            if l.label == base_labels[a] {
                continue;
            }
            let mut want = base_labels.clone();
            want[a] = l.label.clone();
            let Some(p) = by_levels.get(want.as_slice()).copied() else { continue };
            let label = claim(&axis.name, &l.label).map(String::from).unwrap_or_else(|| format!("{} = {}", axis.name, l.label));
            row(o, &label, &format!("{}={}", axis.name, l.label), p, Some((a, &l.label)));
        }
    }
    if let Some(rp) = recommended_point(sweep) {
        if let Some(p) = sweep.points.iter().find(|p| p.id == rp) {
            if p.id != base.id {
                let changed: Vec<String> =
                    spec.axes.iter().zip(&p.levels).zip(&base_labels).filter(|((_, l), b)| l != b).map(|((a, l), _)| format!("{}={l}", a.name)).collect();
                row(o, "the recommended combination", &changed.join(" "), p, None);
            }
        }
    }
    let _ = writeln!(o, "</tbody></table></div>");
}

// ---------------------------------------------------------------------------------------------
// The page

const CSS: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", Arial, sans-serif; color: #1d1d1f; margin: 24px auto; max-width: 1240px; padding: 0 20px; background: #ffffff; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; margin-top: 34px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.desc { color: #444; margin-top: 0; }
ul.facts { padding-left: 20px; color: #333; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f3f3f5; padding: 0 3px; border-radius: 3px; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px; }
th, td { border: 1px solid #d0d0d6; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #eef0f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.ok td { background: #eef9ef; }
.verdict { font-size: 16px; background: #f4f8ff; border-left: 5px solid #2f6fde; padding: 10px 14px; }
.verdict.none { background: #fff5f2; border-left-color: #d9480f; }
.warn { color: #9a3412; }
.scroll { overflow-x: auto; max-width: 100%; }
.charts { display: flex; flex-wrap: wrap; gap: 18px 30px; align-items: flex-start; }
figure { margin: 0; width: min-content; }
figcaption { font-size: 12px; color: #555; min-width: 320px; }
.bar { display: block; height: 10px; background: #35b779; }
.bar-bg { display: inline-block; width: 120px; height: 10px; background: #e6e6e6; vertical-align: middle; margin-right: 6px; text-align: left; }
svg text { font-family: system-ui, "DejaVu Sans", Arial, sans-serif; }
svg .chart-title { font-size: 14px; font-weight: 600; fill: #1d1d1f; }
svg .axis-name { font-size: 12px; font-weight: 600; fill: #333333; }
svg .tick { font-size: 11.5px; fill: #333333; }
svg .cell-value { font-size: 11px; fill: #111111; paint-order: stroke; stroke: #ffffff; stroke-width: 2.5px; stroke-linejoin: round; }
svg .cell-value.on-dark { fill: #ffffff; stroke: #222222; }
svg .boundary { stroke-linecap: square; }
svg .feasible-boundary { stroke: #e8112d; stroke-width: 3.5; }
svg .constraint-boundary { stroke: #111111; stroke-width: 2; stroke-dasharray: 6 4; }
svg .recommended { fill: none; stroke: #ff9f1c; stroke-width: 3.5; }
svg .pt { stroke: #ffffff; stroke-width: 0.8; }
svg .infeasible-pt { fill: #b5b5b5; }
svg .feasible-pt { fill: #2f6fde; }
svg .front-pt { fill: #e8112d; }
svg .front-line { fill: none; stroke: #e8112d; stroke-width: 1.8; }
.key span { display: inline-block; margin-right: 16px; }
.swatch { display: inline-block; width: 22px; height: 0; vertical-align: middle; margin-right: 5px; }
"#;

impl Sweep {
    fn html(&self) -> String {
        let spec = &self.spec;
        let mut o = String::with_capacity(64 * 1024);
        let name = &self.manifest.experiment;
        let _ = writeln!(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">");
        let _ = writeln!(o, "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        let _ = writeln!(o, "<title>{}</title>", esc(&format!("edgesim sweep report: {name}")));
        let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>");
        let _ = writeln!(o, "<h1>Sweep report: {}</h1>", esc(name));
        if !spec.description.trim().is_empty() {
            let _ = writeln!(o, "<p class=\"desc\">{}</p>", esc(spec.description.trim()));
        }
        self.facts(&mut o);
        self.recommendation(&mut o);
        if let Some(plane) = Plane::new(self) {
            self.heatmaps(&mut o, &plane);
        }
        self.pareto(&mut o);
        self.region(&mut o);
        if is_advice(self) {
            let _ = writeln!(o, "<section id=\"advice\">\n<h2>The seed thread's advice, one change at a time</h2>");
            advice_section(&mut o, self);
            let _ = writeln!(o, "</section>");
        }
        let _ = writeln!(
            o,
            "<footer><p class=\"desc\">Written by <code>edgesim report</code> (edgesim {}) from {}: manifest.json, experiment.toml, summary.csv, results.csv and recommendation.json. The page is self-contained: no script, nothing loaded from elsewhere.</p></footer>",
            esc(env!("CARGO_PKG_VERSION")),
            esc(&self.dir.display().to_string())
        );
        let _ = writeln!(o, "</body>\n</html>");
        o
    }

    fn facts(&self, o: &mut String) {
        let spec = &self.spec;
        let design = match spec.design {
            Design::Grid => "grid".to_string(),
            Design::Random { points } => format!("random sample of {points} points"),
            Design::LatinHypercube { points } => format!("Latin hypercube of {points} points"),
        };
        let _ = writeln!(o, "<ul class=\"facts\">");
        let _ = writeln!(
            o,
            "<li>{} points × {} replications ({} runs), {}; seeds: {}; experiment hash <code>{}</code>, written by edgesim {}</li>",
            self.manifest.points,
            spec.replications,
            self.manifest.points * spec.replications as u64,
            esc(&design),
            if spec.common_random_numbers {
                "common random numbers (replication r of every point uses the same seed)"
            } else {
                "independent per point and replication"
            },
            esc(&self.manifest.hash[..self.manifest.hash.len().min(16)]),
            esc(&self.manifest.edgesim)
        );
        let axes: Vec<String> = spec
            .axes
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let n = self.points.iter().map(|p| p.levels[i].as_str()).collect::<std::collections::BTreeSet<_>>().len();
                match &a.path {
                    Some(p) if *p != a.name => format!("<code>{}</code> (<code>{}</code>, {n} levels)", esc(&a.name), esc(p)),
                    _ => format!("<code>{}</code> ({n} levels)", esc(&a.name)),
                }
            })
            .collect();
        let _ = writeln!(o, "<li>axes: {}</li>", axes.join(", "));
        if spec.constraints.is_empty() {
            let _ = writeln!(o, "<li>no constraints: every point that ran without errors is feasible</li>");
        } else {
            let cs: Vec<String> = spec.constraints.iter().enumerate().map(|(i, c)| format!("c{}: <code>{}</code>", i + 1, esc(&c.text))).collect();
            let _ = writeln!(o, "<li>constraints: {}</li>", cs.join("; "));
            let risk = match spec.max_violation_probability {
                Some(p) => format!(", and the 95&#160;% upper Wilson bound of P(some constraint is violated in a run) is at most {}", esc(&sig(p))),
                None => String::new(),
            };
            let _ = writeln!(o, "<li>a point is feasible when every constraint holds on its replication means and no run failed{risk}</li>");
        }
        if !spec.objectives.is_empty() {
            let _ = writeln!(o, "<li>objective: {}</li>", esc(&spec.objectives.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", then ")));
        }
        let errors: u64 = self.points.iter().map(|p| p.errors).sum();
        if errors > 0 {
            let _ = writeln!(o, "<li class=\"warn\">{errors} runs failed (counted as violating every constraint); results.csv has their errors</li>");
        }
        let _ = writeln!(o, "</ul>");
    }

    fn axes_text(&self, v: &Value) -> String {
        let Some(m) = v.get("axes").and_then(|a| a.as_object()) else { return String::new() };
        self.spec.axes.iter().filter_map(|a| m.get(&a.name).and_then(|l| l.as_str()).map(|l| format!("{} = {l}", a.name))).collect::<Vec<_>>().join(", ")
    }

    fn recommendation(&self, o: &mut String) {
        let spec = &self.spec;
        let _ = writeln!(o, "<section id=\"recommendation\">\n<h2>Recommendation</h2>");
        let feasible = self.rec.get("feasible_points").and_then(|x| x.as_u64()).unwrap_or(0);
        let points = self.rec.get("points").and_then(|x| x.as_u64()).unwrap_or(self.points.len() as u64);
        let ranked: Vec<&Value> = self.rec.get("ranked").and_then(|r| r.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
        let r = spec.replications as f64;
        let z2 = Z_95 * Z_95;
        if let Some(best) = ranked.first() {
            let _ = writeln!(o, "<p class=\"verdict\" id=\"recommended\"><strong>Recommended:</strong> {}", esc(&self.axes_text(best)));
            if let Some(a) = best.get("any_violation") {
                let (k, n, hi) = (a["violations"].as_u64().unwrap_or(0), a["runs"].as_u64().unwrap_or(0), a["p95_high"].as_f64().unwrap_or(f64::NAN));
                let _ = write!(
                    o,
                    "<br>Confidence: {k} of {n} runs violated a constraint, so P(a run violates some constraint) ≤ <strong>{}</strong> at 95&#160;% confidence (upper Wilson bound).",
                    esc(&sig(hi))
                );
            }
            let objs: Vec<String> = spec
                .objectives
                .iter()
                .filter_map(|ob| {
                    let m = best.get("metrics")?.get(&ob.metric)?;
                    let mean = m.get("mean")?.as_f64()?;
                    let ci = match (m.get("ci95_low").and_then(|x| x.as_f64()), m.get("ci95_high").and_then(|x| x.as_f64())) {
                        (Some(l), Some(h)) => format!(" [{}, {}]", sig(l), sig(h)),
                        _ => String::new(),
                    };
                    Some(format!("{} {}{ci}", ob.metric, sig(mean)))
                })
                .collect();
            if !objs.is_empty() {
                let _ = write!(o, "<br>Objective means [95&#160;% CI]: {}.", esc(&objs.join("; ")));
            }
            let _ = writeln!(o, "</p>");
            let _ = writeln!(o, "<p>{feasible} of {points} points are feasible; the best {} by the objective:</p>", ranked.len().min(10));
            self.points_table(o, &ranked.iter().take(10).copied().collect::<Vec<_>>(), true);
        } else {
            let closest: Vec<&Value> = self.rec.get("closest_infeasible").and_then(|r| r.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
            let _ = writeln!(
                o,
                "<p class=\"verdict none\" id=\"recommended\"><strong>No point of {points} meets the constraints.</strong> The closest (fewest violations) are below; the hatched cells of the heatmaps show where the constraints fail.</p>"
            );
            self.points_table(o, &closest, false);
        }
        if !spec.constraints.is_empty() {
            let _ = writeln!(
                o,
                "<p class=\"desc\">“P(violation) ≤” is the 95&#160;% upper Wilson bound of the share of runs that violate a constraint. With {} replications and no violation it is {}: more replications make a stronger statement.</p>",
                spec.replications,
                esc(&sig(z2 / (r + z2)))
            );
        }
        let _ = writeln!(o, "</section>");
    }

    fn points_table(&self, o: &mut String, rows: &[&Value], ranked: bool) {
        let spec = &self.spec;
        let shown: Vec<&str> = if spec.objectives.is_empty() {
            spec.metrics.iter().take(2).map(|s| s.as_str()).collect()
        } else {
            spec.objectives.iter().map(|x| x.metric.as_str()).collect()
        };
        let _ = write!(
            o,
            "<div class=\"scroll\"><table id=\"recommendation-table\" class=\"points\"><thead><tr><th>{}</th><th>point</th>",
            if ranked { "rank" } else { "#" }
        );
        for a in &spec.axes {
            let _ = write!(o, "<th>{}</th>", esc(&a.name));
        }
        for m in &shown {
            let _ = write!(o, "<th>{} (mean [95% CI])</th>", esc(m));
        }
        if !spec.constraints.is_empty() {
            if ranked {
                let _ = write!(o, "<th>runs violating</th>");
            } else {
                for i in 0..spec.constraints.len() {
                    let _ = write!(o, "<th title=\"{}\">c{} violations</th>", esc(&spec.constraints[i].text), i + 1);
                }
            }
            let _ = write!(o, "<th>P(violation) ≤ (95%)</th>");
        }
        let _ = writeln!(o, "</tr></thead><tbody>");
        for (i, v) in rows.iter().enumerate() {
            let _ = write!(
                o,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td>",
                i + 1,
                v.get("point").and_then(|p| p.as_u64()).map(|p| p.to_string()).unwrap_or_default()
            );
            for a in &spec.axes {
                let l = v.get("axes").and_then(|x| x.get(&a.name)).and_then(|l| l.as_str()).unwrap_or("");
                let _ = write!(o, "<td>{}</td>", esc(l));
            }
            for m in &shown {
                let cell = v
                    .get("metrics")
                    .and_then(|x| x.get(*m))
                    .and_then(|x| {
                        let mean = x.get("mean")?.as_f64()?;
                        Some(match (x.get("ci95_low").and_then(|y| y.as_f64()), x.get("ci95_high").and_then(|y| y.as_f64())) {
                            (Some(l), Some(h)) => format!("{} [{}, {}]", sig(mean), sig(l), sig(h)),
                            _ => sig(mean),
                        })
                    })
                    .unwrap_or_else(|| "-".into());
                let _ = write!(o, "<td class=\"num\">{}</td>", esc(&cell));
            }
            if !spec.constraints.is_empty() {
                let cs = v.get("constraints").and_then(|c| c.as_array());
                if ranked {
                    let cell = v
                        .get("any_violation")
                        .map(|x| format!("{}/{}", x["violations"].as_u64().unwrap_or(0), x["runs"].as_u64().unwrap_or(0)))
                        .unwrap_or_default();
                    let _ = write!(o, "<td class=\"num\">{}</td>", esc(&cell));
                }
                for i in (0..spec.constraints.len()).filter(|_| !ranked) {
                    let cell = cs
                        .and_then(|c| c.get(i))
                        .and_then(|c| c.get("violation"))
                        .map(|x| format!("{}/{}", x["violations"].as_u64().unwrap_or(0), x["runs"].as_u64().unwrap_or(0)))
                        .unwrap_or_default();
                    let _ = write!(o, "<td class=\"num\">{}</td>", esc(&cell));
                }
                let hi = v.get("any_violation").and_then(|a| a.get("p95_high")).and_then(|x| x.as_f64()).map(sig).unwrap_or_else(|| "-".into());
                let _ = write!(o, "<td class=\"num\">{}</td>", esc(&hi));
            }
            let _ = writeln!(o, "</tr>");
        }
        let _ = writeln!(o, "</tbody></table></div>");
    }

    fn heatmaps(&self, o: &mut String, plane: &Plane) {
        let spec = &self.spec;
        let row = plane.row_axis.map(|a| spec.axes[a].name.clone());
        let col = &spec.axes[plane.col_axis].name;
        let _ = writeln!(o, "<section id=\"heatmaps\">");
        match &row {
            Some(r) => {
                let _ = writeln!(o, "<h2>The swept plane: {} × {}</h2>", esc(r), esc(col));
            }
            None => {
                let _ = writeln!(o, "<h2>The swept axis: {}</h2>", esc(col));
            }
        }
        let others: Vec<&str> =
            spec.axes.iter().enumerate().filter(|(a, _)| Some(*a) != plane.row_axis && *a != plane.col_axis).map(|(_, x)| x.name.as_str()).collect();
        let agg = if others.is_empty() && plane.cells.iter().all(|c| c.len() <= 1) {
            "Each cell is one point.".to_string()
        } else if others.is_empty() {
            "Each cell holds the points whose values fall in it (a sampled axis is cut into bins): it shows the mean of their values.".to_string()
        } else {
            format!("Each cell aggregates every combination of the other axes ({}): it shows the mean of its points' values.", esc(&others.join(", ")))
        };
        let _ = writeln!(o, "<p>Rows and columns are the two axes with the most levels. {agg}</p>");
        if !spec.constraints.is_empty() {
            let _ = writeln!(
                o,
                "<p class=\"key\"><span><svg width=\"22\" height=\"12\"><rect width=\"22\" height=\"12\" fill=\"#3e4989\"/><line x1=\"3\" y1=\"0\" x2=\"3\" y2=\"12\" stroke=\"#ffffff\" stroke-width=\"2.5\"/><line x1=\"6\" y1=\"0\" x2=\"6\" y2=\"12\" stroke=\"#1d1d1f\" stroke-width=\"1.6\" stroke-opacity=\"0.6\"/><line x1=\"11\" y1=\"0\" x2=\"11\" y2=\"12\" stroke=\"#ffffff\" stroke-width=\"2.5\"/><line x1=\"14\" y1=\"0\" x2=\"14\" y2=\"12\" stroke=\"#1d1d1f\" stroke-width=\"1.6\" stroke-opacity=\"0.6\"/><line x1=\"19\" y1=\"0\" x2=\"19\" y2=\"12\" stroke=\"#ffffff\" stroke-width=\"2.5\"/></svg> hatched: no feasible point in the cell</span>\
                 <span><svg width=\"22\" height=\"12\"><line x1=\"0\" y1=\"6\" x2=\"22\" y2=\"6\" stroke=\"#e8112d\" stroke-width=\"3.5\"/></svg> boundary of the feasible region</span>\
                 <span><svg width=\"22\" height=\"12\"><line x1=\"0\" y1=\"6\" x2=\"22\" y2=\"6\" stroke=\"#111111\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/></svg> where a constraint on the chart's metric stops holding</span>\
                 <span><svg width=\"22\" height=\"12\"><rect x=\"1.5\" y=\"1.5\" width=\"19\" height=\"9\" fill=\"none\" stroke=\"#ff9f1c\" stroke-width=\"3\"/></svg> the recommended point's cell</span></p>"
            );
        }
        let _ = writeln!(o, "<div class=\"charts\">");
        for (i, h) in heat_specs(self).iter().enumerate() {
            let _ = writeln!(o, "<figure>");
            heatmap_svg(o, i, self, plane, h);
            let cons: Vec<String> = h.constraints.iter().map(|c| format!("c{}: {}", c + 1, spec.constraints[*c].text)).collect();
            let cons = if cons.is_empty() { String::new() } else { format!(" Dashed: {}.", cons.join("; ")) };
            let _ = writeln!(o, "<figcaption>{}: {}.{}</figcaption>\n</figure>", esc(&h.title), esc(&h.note), esc(&cons));
        }
        let _ = writeln!(o, "</div>\n</section>");
    }

    fn pareto(&self, o: &mut String) {
        let spec = &self.spec;
        if spec.objectives.len() < 2 {
            return;
        }
        let _ = writeln!(o, "<section id=\"pareto\">\n<h2>Pareto front</h2>");
        let mut svg = String::new();
        if pareto_svg(&mut svg, self) {
            let size = self.rec.get("pareto_front").and_then(|f| f.get("size")).and_then(|s| s.as_u64()).unwrap_or(0);
            let _ = writeln!(
                o,
                "<p>Every point's mean {} against its mean {}; {size} feasible points are not dominated on the objectives{}.</p>",
                esc(&spec.objectives[0].metric),
                esc(&spec.objectives[1].metric),
                if spec.objectives.len() > 2 { " (all of them, not only the two drawn)" } else { "" }
            );
            let _ = writeln!(o, "<figure>{svg}</figure>");
        } else {
            let _ = writeln!(o, "<p>No point has values for both objectives.</p>");
        }
        let _ = writeln!(o, "</section>");
    }

    fn region(&self, o: &mut String) {
        let Some(region) = self.rec.get("feasible_region").and_then(|r| r.as_array()) else { return };
        let _ = writeln!(o, "<section id=\"region\">\n<h2>Feasible region by axis</h2>");
        let _ = writeln!(o, "<table class=\"region\"><thead><tr><th>axis</th><th>level</th><th>feasible / points</th></tr></thead><tbody>");
        for r in region {
            let axis = r.get("axis").and_then(|a| a.as_str()).unwrap_or("");
            if let Some(levels) = r.get("levels").and_then(|l| l.as_array()) {
                for l in levels {
                    let (f, n) = (l["feasible"].as_u64().unwrap_or(0), l["points"].as_u64().unwrap_or(0));
                    let w = if n > 0 { 120.0 * f as f64 / n as f64 } else { 0.0 };
                    let _ = writeln!(
                        o,
                        "<tr><td>{}</td><td>{}</td><td class=\"num\"><span class=\"bar-bg\"><span class=\"bar\" style=\"width:{w:.0}px\"></span></span>{f} / {n}</td></tr>",
                        esc(axis),
                        esc(l.get("level").and_then(|x| x.as_str()).unwrap_or(""))
                    );
                }
            } else {
                let range = match r.get("feasible_range").and_then(|x| x.as_array()) {
                    Some(a) if a.len() == 2 => {
                        format!("feasible from {} to {}", sig(a[0].as_f64().unwrap_or(f64::NAN)), sig(a[1].as_f64().unwrap_or(f64::NAN)))
                    }
                    _ => "no feasible value".into(),
                };
                let _ = writeln!(o, "<tr><td>{}</td><td colspan=\"2\">{}</td></tr>", esc(axis), esc(&range));
            }
        }
        let _ = writeln!(o, "</tbody></table>\n</section>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc(r#"<b a="1">'x' & y</b>"#), "&lt;b a=&quot;1&quot;&gt;&#39;x&#39; &amp; y&lt;/b&gt;");
        assert_eq!(esc("a\u{1}b"), "a\u{FFFD}b");
    }

    #[test]
    fn colour_scale_ends() {
        assert_eq!(hex(viridis(0.0)), "#440154");
        assert_eq!(hex(viridis(1.0)), "#fde725");
        assert_eq!(hex(viridis(f64::NAN)), hex(viridis(0.5)));
    }
}
