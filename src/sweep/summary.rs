//! From results rows to per-point statistics, `results.csv` and `summary.csv`.
//!
//! The final files are assembled from the part files in chunk order, streaming: one chunk's rows
//! in memory at a time, so memory does not grow with the number of points. `results.csv` is the
//! header followed by the parts' bytes, copied unchanged; `summary.csv` and the recommendation
//! are computed from the same bytes.

use super::experiment::{is_outcome_key, ExperimentSpec};
use super::recommend::RecommendationBuilder;
use super::stats::{mean_ci95, wilson95, MeanCi, Proportion, TCache};
use super::store::{persist, temp_beside};
use super::SweepError;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// What a sweep found at one point.
#[derive(Clone, Debug)]
pub struct PointSummary {
    pub point: u64,
    /// Axis levels, as in the results.
    pub levels: Vec<String>,
    pub runs: u64,
    /// Runs that failed (a model the simulator refused, a limit reached): counted as violating
    /// every constraint.
    pub errors: u64,
    /// Per kept metric; `None` when no run has a value.
    pub metrics: Vec<Option<MeanCi>>,
    /// Per constraint, P(violated in a replication).
    pub violations: Vec<Proportion>,
    /// P(any constraint violated in a replication); `None` without constraints.
    pub any_violation: Option<Proportion>,
    /// Every constraint holds on the replication means.
    pub holds_on_means: bool,
    /// Meets the constraints: on the means, without failed runs, and (if the experiment sets
    /// `max_violation_probability`) with the upper Wilson bound of P(any violation) below it.
    pub feasible: bool,
}

impl PointSummary {
    pub fn metric(&self, spec: &ExperimentSpec, name: &str) -> Option<MeanCi> {
        spec.metrics.iter().position(|m| m == name).and_then(|i| self.metrics[i])
    }
}

/// A cell as a number: numbers as such, booleans as 0/1; empty cells (a run that failed, a
/// summary field with no value such as `first_revocation_at_s` when nothing was revoked) and
/// text are missing.
pub fn cell_number(cell: &str) -> Option<f64> {
    match cell {
        "true" => Some(1.0),
        "false" => Some(0.0),
        s => s.parse::<f64>().ok().filter(|x| !x.is_nan()),
    }
}

/// The cells of the kept metrics for one run's summary. A list-valued field
/// (`orgs_needing_manual_reauth`) is kept as its number of items, so every kept metric is a
/// number (the per-org keys, `orgs.B.needs_manual_reauth_at_end`, say which). An
/// `outcomes.<status>` key absent from the summary is a count of zero; any other absent key is an
/// empty cell.
pub fn metric_cells(summary: &crate::model::metrics::Summary, metrics: &[String]) -> Vec<String> {
    let flat = crate::report::flatten(summary);
    let tree = serde_json::to_value(summary).expect("summary serializes");
    metrics
        .iter()
        .map(|m| {
            if let Some(serde_json::Value::Array(items)) = tree.get(m) {
                return items.len().to_string();
            }
            match flat.iter().find(|(k, _)| k == m) {
                Some((_, v)) => v.clone(),
                None if is_outcome_key(m) => "0".into(),
                None => String::new(),
            }
        })
        .collect()
}

pub fn summary_header(spec: &ExperimentSpec) -> Vec<String> {
    let mut h = vec!["point".to_string()];
    h.extend(spec.axes.iter().map(|a| a.name.clone()));
    h.push("runs".into());
    h.push("errors".into());
    for m in &spec.metrics {
        for s in ["mean", "ci95_low", "ci95_high"] {
            h.push(format!("{m}.{s}"));
        }
    }
    let mut prop = |name: &str| {
        for s in ["violations", "p", "p95_low", "p95_high"] {
            h.push(format!("{name}.{s}"));
        }
    };
    for i in 0..spec.constraints.len() {
        prop(&format!("c{}", i + 1));
    }
    if !spec.constraints.is_empty() {
        prop("any");
        h.push("holds_on_means".into());
    }
    h.push("feasible".into());
    h
}

/// Numbers in the CSV files: Rust's shortest round-trip form; nothing for NaN or no value.
pub fn num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

fn summary_row(spec: &ExperimentSpec, s: &PointSummary) -> Vec<String> {
    let mut r = vec![s.point.to_string()];
    r.extend(s.levels.iter().cloned());
    r.push(s.runs.to_string());
    r.push(s.errors.to_string());
    for m in &s.metrics {
        match m {
            Some(m) => {
                r.push(num(m.mean));
                let (lo, hi) = m.ci.unwrap_or((f64::NAN, f64::NAN));
                r.push(num(lo));
                r.push(num(hi));
            }
            None => r.extend(["", "", ""].map(String::from)),
        }
    }
    let prop = |r: &mut Vec<String>, p: &Proportion| {
        r.extend([p.k.to_string(), num(p.p), num(p.low), num(p.high)]);
    };
    for v in &s.violations {
        prop(&mut r, v);
    }
    if let Some(a) = &s.any_violation {
        prop(&mut r, a);
        r.push(s.holds_on_means.to_string());
    }
    r.push(s.feasible.to_string());
    debug_assert_eq!(r.len(), summary_header(spec).len());
    r
}

/// Statistics of one point from its rows (replications in order).
pub fn summarize_point(spec: &ExperimentSpec, point: u64, rows: &[csv::StringRecord], tc: &mut TCache) -> PointSummary {
    let na = spec.axes.len();
    let first_metric = 3 + na;
    let error_col = first_metric + spec.metrics.len();
    let levels = rows.first().map(|r| (0..na).map(|a| r[3 + a].to_string()).collect()).unwrap_or_default();
    let ok: Vec<&csv::StringRecord> = rows.iter().filter(|r| r[error_col].is_empty()).collect();
    let errors = (rows.len() - ok.len()) as u64;
    let metrics = (0..spec.metrics.len())
        .map(|m| {
            let xs: Vec<f64> = ok.iter().filter_map(|r| cell_number(&r[first_metric + m])).collect();
            mean_ci95(&xs, tc)
        })
        .collect::<Vec<_>>();
    let n = rows.len() as u64;
    // A failed run violates every constraint.
    let violated = |c: &super::expr::Constraint, r: &csv::StringRecord| {
        !r[error_col].is_empty() || !c.holds(|name: &str| spec.metrics.iter().position(|m| m == name).and_then(|i| cell_number(&r[first_metric + i])))
    };
    let violations: Vec<Proportion> = spec.constraints.iter().map(|c| wilson95(rows.iter().filter(|r| violated(c, r)).count() as u64, n)).collect();
    let any_violation =
        (!spec.constraints.is_empty()).then(|| wilson95(rows.iter().filter(|r| spec.constraints.iter().any(|c| violated(c, r))).count() as u64, n));
    let mean_of = |name: &str| spec.metrics.iter().position(|m| m == name).and_then(|i| metrics[i]).map(|m| m.mean);
    let holds_on_means = spec.constraints.iter().all(|c| c.holds(mean_of));
    let within_risk = match (spec.max_violation_probability, &any_violation) {
        (Some(max), Some(p)) => p.high <= max,
        _ => true,
    };
    let feasible = !ok.is_empty() && errors == 0 && holds_on_means && within_risk;
    PointSummary { point, levels, runs: n, errors, metrics, violations, any_violation, holds_on_means, feasible }
}

/// Assembles `results.csv`, `summary.csv` and the recommendation in `out` from the part files
/// of every chunk (`parts[c]` is chunk c's). Each output replaces its previous version
/// atomically.
pub fn finalize(spec: &ExperimentSpec, parts: &[PathBuf], out: &Path, hash: &str) -> Result<super::recommend::Recommendation, SweepError> {
    assert_eq!(parts.len() as u64, spec.chunks());
    let results_path = out.join("results.csv");
    let summary_path = out.join("summary.csv");
    let results_tmp = temp_beside(&results_path)?;
    let summary_tmp = temp_beside(&summary_path)?;
    let mut results = BufWriter::with_capacity(1 << 20, results_tmp.as_file());
    let mut summary = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, summary_tmp.as_file()));
    fn io(p: &Path) -> impl Fn(std::io::Error) -> SweepError + '_ {
        move |e| SweepError::io(p, e)
    }

    let header = spec.results_header();
    {
        let mut w = csv::Writer::from_writer(&mut results);
        w.write_record(&header).map_err(|e| SweepError::Invalid(e.to_string()))?;
        w.flush().map_err(io(&results_path))?;
    }
    summary.write_record(summary_header(spec)).map_err(|e| SweepError::Invalid(e.to_string()))?;

    let mut tc = TCache::default();
    let mut rec = RecommendationBuilder::new(spec);
    let reps = spec.replications as usize;
    for (c, part) in parts.iter().enumerate() {
        let bytes = std::fs::read(part).map_err(io(part))?;
        results.write_all(&bytes).map_err(io(&results_path))?;
        let corrupt = |what: String| SweepError::Invalid(format!("{}: {what}; delete the file and rerun the sweep to recompute its chunk", part.display()));
        let mut rows = vec![];
        for rec in csv::ReaderBuilder::new().has_headers(false).from_reader(bytes.as_slice()).records() {
            let r = rec.map_err(|e| corrupt(format!("unreadable ({e})")))?;
            if r.len() != header.len() {
                return Err(corrupt(format!("a row has {} columns, the experiment {}", r.len(), header.len())));
            }
            rows.push(r);
        }
        let range = spec.chunk_points(c as u64);
        if rows.len() != (range.end - range.start) as usize * reps {
            return Err(corrupt(format!("{} rows, expected {}", rows.len(), (range.end - range.start) as usize * reps)));
        }
        for (i, p) in range.enumerate() {
            let group = &rows[i * reps..(i + 1) * reps];
            for (r, row) in group.iter().enumerate() {
                if row[0] != *p.to_string() || row[1] != *r.to_string() {
                    return Err(corrupt(format!("expected point {p} replication {r}, found point {} replication {}", &row[0], &row[1])));
                }
            }
            let s = summarize_point(spec, p, group, &mut tc);
            summary.write_record(summary_row(spec, &s)).map_err(|e| SweepError::Invalid(e.to_string()))?;
            rec.add(&s);
        }
    }
    results.flush().map_err(io(&results_path))?;
    drop(results);
    let w = summary.into_inner().map_err(|e| SweepError::io(&summary_path, e.into_error()))?;
    drop(w);
    let recommendation = rec.finish(hash);
    let json_tmp = out.join("recommendation.json");
    let md_tmp = out.join("recommendation.md");
    let json = serde_json::to_string_pretty(&recommendation.json).expect("serializes") + "\n";
    persist(results_tmp, &results_path)?;
    persist(summary_tmp, &summary_path)?;
    super::store::write_atomic(&json_tmp, json.as_bytes())?;
    super::store::write_atomic(&md_tmp, recommendation.markdown.as_bytes())?;
    Ok(recommendation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_as_numbers() {
        assert_eq!(cell_number("0.25"), Some(0.25));
        assert_eq!(cell_number("3"), Some(3.0));
        assert_eq!(cell_number(""), None);
        assert_eq!(cell_number("proxy"), None);
        assert_eq!(cell_number("true"), Some(1.0));
    }
}
