//! The recommendation: the points that meet the constraints, ranked by the objective, the Pareto
//! front when there are several objectives, and where in the space the feasible points lie.
//!
//! Built point by point while `summary.csv` is written, keeping only the best few points in
//! full, the feasible points' objective values (for the Pareto front) and per-level counts: the
//! memory stays small for a 10^5-point sweep.

use super::experiment::{Design, ExperimentSpec};
use super::stats::{MeanCi, Proportion};
use super::summary::PointSummary;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Points kept in full in `recommendation.json`.
const RANKED: usize = 20;
/// Points printed to stdout and shown first in `recommendation.md`.
pub const TOP: usize = 5;
const FRONT_SHOWN: usize = 50;

#[derive(Debug)]
pub struct Recommendation {
    pub json: Value,
    pub markdown: String,
    /// The top points as a table, for the terminal.
    pub top: String,
    pub feasible: u64,
    pub points: u64,
}

struct Ranked {
    key: Vec<f64>,
    s: PointSummary,
}

/// A feasible point's objective values, for the Pareto front.
struct Brief {
    point: u64,
    costs: Vec<f64>,
}

enum Region {
    /// Per level: (label, points, feasible points), in order of first appearance.
    Levels(Vec<(String, u64, u64)>),
    /// A sampled range: the smallest and largest feasible value seen.
    Range { lo: f64, hi: f64 },
}

pub struct RecommendationBuilder<'a> {
    spec: &'a ExperimentSpec,
    points: u64,
    feasible: u64,
    ranked: Vec<Ranked>,
    closest: Vec<Ranked>,
    briefs: Vec<Brief>,
    region: Vec<Region>,
    /// Feasible counts per (level of axis 0, level of axis 1), when both are levelled.
    pairs: BTreeMap<(usize, usize), (u64, u64)>,
}

fn cmp_keys(a: &[f64], b: &[f64]) -> Ordering {
    a.iter().zip(b).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
}

fn insert_ranked(v: &mut Vec<Ranked>, r: Ranked, keep: usize) {
    let at = v.partition_point(|x| cmp_keys(&x.key, &r.key) != Ordering::Greater);
    if at < keep {
        v.insert(at, r);
        v.truncate(keep);
    }
}

impl<'a> RecommendationBuilder<'a> {
    pub fn new(spec: &'a ExperimentSpec) -> Self {
        let region =
            spec.axes
                .iter()
                .map(|a| {
                    if spec.design != Design::Grid && a.is_range() {
                        Region::Range { lo: f64::INFINITY, hi: f64::NEG_INFINITY }
                    } else {
                        Region::Levels(vec![])
                    }
                })
                .collect();
        RecommendationBuilder { spec, points: 0, feasible: 0, ranked: vec![], closest: vec![], briefs: vec![], region, pairs: BTreeMap::new() }
    }

    fn costs(&self, s: &PointSummary) -> Vec<f64> {
        self.spec.objectives.iter().map(|o| s.metric(self.spec, &o.metric).map(|m| o.cost(m.mean)).filter(|c| !c.is_nan()).unwrap_or(f64::INFINITY)).collect()
    }

    pub fn add(&mut self, s: &PointSummary) {
        self.points += 1;
        let costs = self.costs(s);
        let risk = s.any_violation.map(|p| (p.high, p.p)).unwrap_or((0.0, 0.0));
        let numbers = self.spec.point(s.point);
        let mut idx = [usize::MAX; 2];
        for (a, region) in self.region.iter_mut().enumerate() {
            match region {
                Region::Levels(levels) => {
                    let i = levels.iter().position(|(l, _, _)| *l == s.levels[a]).unwrap_or_else(|| {
                        levels.push((s.levels[a].clone(), 0, 0));
                        levels.len() - 1
                    });
                    levels[i].1 += 1;
                    levels[i].2 += u64::from(s.feasible);
                    if a < 2 {
                        idx[a] = i;
                    }
                }
                Region::Range { lo, hi } => {
                    if let (true, Some(x)) = (s.feasible, numbers[a].number) {
                        *lo = lo.min(x);
                        *hi = hi.max(x);
                    }
                }
            }
        }
        if idx[0] != usize::MAX && idx[1] != usize::MAX {
            let e = self.pairs.entry((idx[0], idx[1])).or_insert((0, 0));
            e.0 += 1;
            e.1 += u64::from(s.feasible);
        }
        if s.feasible {
            self.feasible += 1;
            let mut key = costs.clone();
            key.extend([risk.0, s.point as f64]);
            insert_ranked(&mut self.ranked, Ranked { key, s: s.clone() }, RANKED);
            if self.spec.objectives.len() >= 2 {
                self.briefs.push(Brief { point: s.point, costs });
            }
        } else {
            let mut key = vec![risk.0, risk.1, s.errors as f64, f64::from(u8::from(!s.holds_on_means))];
            key.extend(costs);
            key.push(s.point as f64);
            insert_ranked(&mut self.closest, Ranked { key, s: s.clone() }, TOP);
        }
    }

    /// Non-dominated feasible points (minimizing every cost): sorted lexicographically, a point
    /// can only be dominated by one before it, and dominance is transitive, so comparing with
    /// the front kept so far suffices.
    fn pareto_front(&mut self) -> Vec<u64> {
        self.briefs.sort_by(|a, b| cmp_keys(&a.costs, &b.costs).then(a.point.cmp(&b.point)));
        let mut front: Vec<&Brief> = vec![];
        for b in &self.briefs {
            let dominated = front.iter().any(|f| f.costs.iter().zip(&b.costs).all(|(x, y)| x <= y) && f.costs.iter().zip(&b.costs).any(|(x, y)| x < y));
            if !dominated {
                front.push(b);
            }
        }
        front.into_iter().map(|b| b.point).collect()
    }

    pub fn finish(mut self, hash: &str) -> Recommendation {
        let spec = self.spec;
        let front = if spec.objectives.len() >= 2 { Some(self.pareto_front()) } else { None };
        let md = self.markdown(hash, front.as_deref());
        let top = self.top_table();
        let json = self.json(hash, front.as_deref());
        Recommendation { json, markdown: md, top, feasible: self.feasible, points: self.points }
    }

    fn axes_json(&self, levels: &[String]) -> Value {
        let mut m = Map::new();
        for (a, l) in self.spec.axes.iter().zip(levels) {
            m.insert(a.name.clone(), Value::String(l.clone()));
        }
        Value::Object(m)
    }

    fn point_json(&self, s: &PointSummary, rank: Option<usize>) -> Value {
        let spec = self.spec;
        let mut metrics = Map::new();
        for (name, m) in spec.metrics.iter().zip(&s.metrics) {
            metrics.insert(name.clone(), mean_json(m.as_ref()));
        }
        let constraints: Vec<Value> =
            spec.constraints.iter().zip(&s.violations).map(|(c, p)| json!({ "constraint": c.text, "violation": prop_json(p) })).collect();
        let mut v = json!({
            "point": s.point,
            "axes": self.axes_json(&s.levels),
            "runs": s.runs,
            "errors": s.errors,
            "feasible": s.feasible,
            "holds_on_means": s.holds_on_means,
            "metrics": metrics,
            "constraints": constraints,
        });
        if let Some(p) = &s.any_violation {
            v["any_violation"] = prop_json(p);
        }
        if let Some(r) = rank {
            v["rank"] = json!(r);
        }
        v
    }

    fn json(&self, hash: &str, front: Option<&[u64]>) -> Value {
        let spec = self.spec;
        let region: Vec<Value> = spec
            .axes
            .iter()
            .zip(&self.region)
            .map(|(a, r)| match r {
                Region::Levels(levels) => json!({
                    "axis": a.name,
                    "levels": levels.iter().map(|(l, n, f)| json!({ "level": l, "points": n, "feasible": f })).collect::<Vec<_>>(),
                }),
                Region::Range { lo, hi } => json!({
                    "axis": a.name,
                    "feasible_range": if lo <= hi { json!([lo, hi]) } else { Value::Null },
                }),
            })
            .collect();
        let mut v = json!({
            "experiment": spec.name,
            "hash": hash,
            "points": self.points,
            "replications": spec.replications,
            "design": design_name(&spec.design),
            "common_random_numbers": spec.common_random_numbers,
            "constraints": spec.constraints.iter().map(|c| c.text.clone()).collect::<Vec<_>>(),
            "objectives": spec.objectives.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
            "max_violation_probability": spec.max_violation_probability,
            "feasible_points": self.feasible,
            "ranked": self.ranked.iter().enumerate().map(|(i, r)| self.point_json(&r.s, Some(i + 1))).collect::<Vec<_>>(),
            "feasible_region": region,
            "closest_infeasible": self.closest.iter().map(|r| self.point_json(&r.s, None)).collect::<Vec<_>>(),
        });
        if let Some(front) = front {
            let members: Vec<Value> = front
                .iter()
                .take(FRONT_SHOWN)
                .map(|p| {
                    let levels: Vec<String> = spec.point(*p).into_iter().map(|l| l.label).collect();
                    let costs = &self.briefs.iter().find(|b| b.point == *p).expect("front member").costs;
                    let objectives: Map<String, Value> =
                        spec.objectives.iter().zip(costs).map(|(o, c)| (o.metric.clone(), json!(finite(o.cost(*c))))).collect();
                    json!({ "point": p, "axes": self.axes_json(&levels), "objective_means": objectives })
                })
                .collect();
            v["pareto_front"] = json!({ "size": front.len(), "points": members });
        }
        v
    }

    /// The top points as a Markdown table (also what the terminal shows).
    fn top_table(&self) -> String {
        let spec = self.spec;
        let mut o = String::new();
        if self.ranked.is_empty() {
            let _ = writeln!(o, "No point of {} meets the constraints. Closest:", self.points);
            o.push_str(&self.table(&self.closest.iter().take(TOP).map(|r| &r.s).collect::<Vec<_>>(), false));
            return o;
        }
        let by = if spec.objectives.is_empty() {
            "point order (no objective set)".to_string()
        } else {
            spec.objectives.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", then ")
        };
        let _ = writeln!(o, "Top {} of {} feasible points (of {}), ranked by {by}:", self.ranked.len().min(TOP), self.feasible, self.points);
        o.push_str(&self.table(&self.ranked.iter().take(TOP).map(|r| &r.s).collect::<Vec<_>>(), true));
        o
    }

    fn table(&self, rows: &[&PointSummary], ranked: bool) -> String {
        let spec = self.spec;
        let mut cols: Vec<String> = vec![if ranked { "rank" } else { "#" }.into(), "point".into()];
        cols.extend(spec.axes.iter().map(|a| a.name.clone()));
        let shown: Vec<&String> = {
            let mut v: Vec<&String> = spec.objectives.iter().map(|o| &o.metric).collect();
            if v.is_empty() {
                v.extend(spec.metrics.iter().take(2));
            }
            v
        };
        cols.extend(shown.iter().map(|m| format!("{m} (mean [95% CI])")));
        if !spec.constraints.is_empty() {
            cols.push("violations".into());
            cols.push("P(violation) <= (95%)".into());
        }
        let mut o = String::new();
        let _ = writeln!(o, "| {} |", cols.join(" | "));
        let _ = writeln!(o, "|{}|", cols.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
        for (i, s) in rows.iter().enumerate() {
            let mut r = vec![(i + 1).to_string(), s.point.to_string()];
            r.extend(s.levels.iter().cloned());
            for m in &shown {
                r.push(match s.metric(spec, m) {
                    Some(MeanCi { mean, ci: Some((lo, hi)), .. }) => format!("{} [{}, {}]", sig(mean), sig(lo), sig(hi)),
                    Some(MeanCi { mean, ci: None, .. }) => sig(mean),
                    None => "-".into(),
                });
            }
            if let Some(p) = &s.any_violation {
                r.push(format!("{}/{}", p.k, p.n));
                r.push(sig(p.high));
            }
            let _ = writeln!(o, "| {} |", r.join(" | "));
        }
        o
    }

    fn markdown(&self, hash: &str, front: Option<&[u64]>) -> String {
        let spec = self.spec;
        let mut o = String::new();
        let _ = writeln!(o, "# Sweep recommendation: {}\n", spec.name);
        if !spec.description.trim().is_empty() {
            let _ = writeln!(o, "{}\n", spec.description.trim());
        }
        let seeds = if spec.common_random_numbers {
            "common random numbers (replication r of every point uses the same seed)"
        } else {
            "independent per point and replication"
        };
        let _ = writeln!(
            o,
            "- {} points x {} replications, {} design; seeds: {seeds}; experiment hash `{}`",
            self.points,
            spec.replications,
            design_name(&spec.design),
            &hash[..hash.len().min(16)]
        );
        if spec.constraints.is_empty() {
            let _ = writeln!(o, "- no constraints: every point that ran without errors is feasible");
        } else {
            let _ = writeln!(o, "- constraints (`cN` in summary.csv):");
            for (i, c) in spec.constraints.iter().enumerate() {
                let _ = writeln!(o, "  - c{}: `{}`", i + 1, c.text);
            }
            let risk = match spec.max_violation_probability {
                Some(p) => format!(", and the 95 % upper Wilson bound of P(some constraint is violated in a run) is at most {p}"),
                None => String::new(),
            };
            let _ = writeln!(o, "- a point is feasible when every constraint holds on the replication means, no run failed{risk}");
            let r = spec.replications as f64;
            let z2 = super::stats::Z_95 * super::stats::Z_95;
            let _ = writeln!(
                o,
                "- confidence: \"P(violation) <=\" is the 95 % upper Wilson bound of the share of runs that violate a constraint; with {} replications and no violation it is {}, so more replications make a stronger statement",
                spec.replications,
                sig(z2 / (r + z2))
            );
        }
        if !spec.objectives.is_empty() {
            let _ = writeln!(o, "- objective: {}", spec.objectives.iter().map(|x| x.to_string()).collect::<Vec<_>>().join("; "));
        }
        let _ = writeln!(o, "\n**{} of {} points are feasible.**\n", self.feasible, self.points);
        let _ = writeln!(o, "## Best points\n");
        o.push_str(&self.top_table());
        if self.ranked.len() > TOP {
            let _ = writeln!(o, "\nrecommendation.json lists the best {} in full; summary.csv has every point.", self.ranked.len());
        }
        if let Some(front) = front {
            let _ = writeln!(o, "\n## Pareto front\n");
            let _ = writeln!(
                o,
                "{} feasible points are not dominated on ({}):\n",
                front.len(),
                spec.objectives.iter().map(|x| x.metric.clone()).collect::<Vec<_>>().join(", ")
            );
            let mut cols: Vec<String> = vec!["point".into()];
            cols.extend(spec.axes.iter().map(|a| a.name.clone()));
            cols.extend(spec.objectives.iter().map(|x| x.metric.clone()));
            let _ = writeln!(o, "| {} |", cols.join(" | "));
            let _ = writeln!(o, "|{}|", cols.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
            for p in front.iter().take(FRONT_SHOWN) {
                let mut r = vec![p.to_string()];
                r.extend(spec.point(*p).into_iter().map(|l| l.label));
                let costs = &self.briefs.iter().find(|b| b.point == *p).expect("front member").costs;
                r.extend(spec.objectives.iter().zip(costs).map(|(x, c)| sig(x.cost(*c))));
                let _ = writeln!(o, "| {} |", r.join(" | "));
            }
        }
        let _ = writeln!(o, "\n## Feasible region\n");
        let _ = writeln!(o, "| axis | level | feasible / points |\n|---|---|---|");
        for (a, r) in spec.axes.iter().zip(&self.region) {
            match r {
                Region::Levels(levels) => {
                    for (l, n, f) in levels {
                        let _ = writeln!(o, "| {} | {l} | {f} / {n} |", a.name);
                    }
                }
                Region::Range { lo, hi } if lo <= hi => {
                    let _ = writeln!(o, "| {} | feasible from {} to {} | |", a.name, sig(*lo), sig(*hi));
                }
                Region::Range { .. } => {
                    let _ = writeln!(o, "| {} | no feasible value | |", a.name);
                }
            }
        }
        if let (Some(Region::Levels(rows)), Some(Region::Levels(cols))) = (self.region.first(), self.region.get(1)) {
            let _ = writeln!(o, "\n### Feasible points by {} (rows) and {} (columns)\n", spec.axes[0].name, spec.axes[1].name);
            let _ = writeln!(o, "| | {} |", cols.iter().map(|c| c.0.clone()).collect::<Vec<_>>().join(" | "));
            let _ = writeln!(o, "|---|{}|", cols.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
            for (i, row) in rows.iter().enumerate() {
                let cells: Vec<String> =
                    (0..cols.len()).map(|j| self.pairs.get(&(i, j)).map(|(n, f)| format!("{f}/{n}")).unwrap_or_else(|| "-".into())).collect();
                let _ = writeln!(o, "| {} | {} |", row.0, cells.join(" | "));
            }
        }
        if self.ranked.is_empty() && !self.closest.is_empty() {
            let _ = writeln!(o, "\nNo point is feasible; the table above shows the closest (fewest violations).");
        }
        o
    }
}

fn design_name(d: &Design) -> &'static str {
    match d {
        Design::Grid => "grid",
        Design::Random { .. } => "random",
        Design::LatinHypercube { .. } => "latin-hypercube",
    }
}

fn finite(x: f64) -> Value {
    if x.is_finite() {
        json!(x)
    } else {
        Value::Null
    }
}

fn mean_json(m: Option<&MeanCi>) -> Value {
    match m {
        None => Value::Null,
        Some(m) => {
            let (lo, hi) = m.ci.unwrap_or((f64::NAN, f64::NAN));
            json!({ "mean": finite(m.mean), "ci95_low": finite(lo), "ci95_high": finite(hi), "n": m.n })
        }
    }
}

fn prop_json(p: &Proportion) -> Value {
    json!({ "violations": p.k, "runs": p.n, "p": finite(p.p), "p95_low": finite(p.low), "p95_high": finite(p.high) })
}

/// Four significant digits (all the integer digits above 1000), for tables people read.
pub fn sig(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (3 - mag).clamp(0, 6) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(sig(497.919), "497.9");
        assert_eq!(sig(8065.023), "8065");
        assert_eq!(sig(0.99455), "0.9946");
        assert_eq!(sig(0.5), "0.5");
        assert_eq!(sig(0.0), "0");
    }

    #[test]
    fn ranking_keeps_the_best() {
        let s = |p: u64| PointSummary {
            point: p,
            levels: vec![],
            runs: 1,
            errors: 0,
            metrics: vec![],
            violations: vec![],
            any_violation: None,
            holds_on_means: true,
            feasible: true,
        };
        let mut v = vec![];
        for (p, k) in [(0, 3.0), (1, 1.0), (2, 2.0), (3, 1.0)] {
            insert_ranked(&mut v, Ranked { key: vec![k, p as f64], s: s(p) }, 3);
        }
        assert_eq!(v.iter().map(|r| r.s.point).collect::<Vec<_>>(), [1, 3, 2]);
    }
}
