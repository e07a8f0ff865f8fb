//! Constraints and objectives: a tiny expression language over flattened summary keys.
//!
//! A constraint is `metric op number`, several joined by `&&`:
//! `family_revocations == 0 && latency.p99_ms <= 20000`. Operators: `==`, `!=`, `<=`, `>=`, `<`,
//! `>`. An objective is `minimize metric` or `maximize metric`.

use crate::expr::Expr;
use std::fmt;

/// One entry of `constraints`: an expression over flattened summary keys (`&&`, `||`,
/// parentheses), the same language as `edgesim check`'s predicates (`crate::expr`).
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// As written in the experiment file.
    pub text: String,
    pub expr: Expr,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let expr = Expr::parse(text).map_err(|e| format!("in `{}`: {e}", text.trim()))?;
        for c in expr.comparisons() {
            if c.metric.contains('*') {
                return Err(format!("in `{}`: `{}`: wildcards are for `edgesim check`; name the metric (e.g. orgs.B.success_rate)", text.trim(), c.metric));
            }
            if !is_metric_name(&c.metric) {
                return Err(format!("`{}` is not a metric name (flattened summary keys look like latency.p99_ms or orgs.B.success_rate)", c.metric));
            }
        }
        Ok(Constraint { text: text.trim().to_string(), expr })
    }

    /// Whether the constraint holds when metrics take the values `value(name)` gives. A metric
    /// with no value (a run that failed, an empty cell) fails the comparison: a sweep should not
    /// recommend what it could not measure.
    pub fn holds(&self, value: impl Fn(&str) -> Option<f64>) -> bool {
        self.expr.holds_with(&value)
    }

    pub fn metrics(&self) -> impl Iterator<Item = &str> {
        self.expr.comparisons().into_iter().map(|c| c.metric.as_str())
    }
}

fn is_metric_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Direction {
    Minimize,
    Maximize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Objective {
    pub direction: Direction,
    pub metric: String,
}

impl Objective {
    pub fn parse(text: &str) -> Result<Objective, String> {
        let mut words = text.split_whitespace();
        let (Some(dir), Some(metric), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!("`{text}` is not `minimize METRIC` or `maximize METRIC`"));
        };
        let direction = match dir {
            "minimize" | "min" => Direction::Minimize,
            "maximize" | "max" => Direction::Maximize,
            other => return Err(format!("`{other}` is neither minimize nor maximize")),
        };
        if !is_metric_name(metric) {
            return Err(format!("`{metric}` is not a metric name"));
        }
        Ok(Objective { direction, metric: metric.to_string() })
    }

    /// The value to minimize: the metric, negated when maximizing.
    pub fn cost(&self, value: f64) -> f64 {
        match self.direction {
            Direction::Minimize => value,
            Direction::Maximize => -value,
        }
    }
}

impl fmt::Display for Objective {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.direction {
            Direction::Minimize => "minimize",
            Direction::Maximize => "maximize",
        };
        write!(f, "{d} {}", self.metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{Comparison, Op};

    #[test]
    fn parses_and_evaluates_constraints() {
        let c = Constraint::parse("family_revocations == 0 && latency.p99_ms<=20000").unwrap();
        assert_eq!(c.expr.comparisons().len(), 2);
        assert_eq!(*c.expr.comparisons()[1], Comparison { metric: "latency.p99_ms".into(), op: Op::Le, value: 20000.0 });
        let vals = |rev: f64, p99: f64| {
            move |m: &str| match m {
                "family_revocations" => Some(rev),
                "latency.p99_ms" => Some(p99),
                _ => None,
            }
        };
        assert!(c.holds(vals(0.0, 20000.0)));
        assert!(!c.holds(vals(0.0, 20000.1)));
        assert!(!c.holds(vals(1.0, 10.0)));
        // A missing value fails.
        assert!(!c.holds(|_| None));
        for (text, op) in [("a != 1", Op::Ne), ("a >= 1", Op::Ge), ("a < 1", Op::Lt), ("a > -1.5", Op::Gt)] {
            assert_eq!(Constraint::parse(text).unwrap().expr.comparisons()[0].op, op, "{text}");
        }
        // The shared language also gives `||` and parentheses.
        let c = Constraint::parse("(a == 1 || b == 1) && c <= 2").unwrap();
        assert!(c.holds(|m: &str| Some(if m == "b" { 1.0 } else { 2.0 })));
        assert!(Constraint::parse("orgs.*.success_rate >= 0.9").is_err(), "wildcards are for edgesim check");
    }

    #[test]
    fn rejects_malformed_constraints() {
        for bad in ["latency.p99_ms", "<= 3", "a <= fast", "a b <= 3", "a <= 3 &&", "a <= inf"] {
            assert!(Constraint::parse(bad).is_err(), "{bad}");
        }
        let e = Constraint::parse("x == 0 && y <= z").unwrap_err();
        assert!(e.contains("`z`"), "{e}");
    }

    #[test]
    fn parses_objectives() {
        let o = Objective::parse("minimize latency.p99_ms").unwrap();
        assert_eq!(o, Objective { direction: Direction::Minimize, metric: "latency.p99_ms".into() });
        assert_eq!(o.cost(3.0), 3.0);
        let o = Objective::parse("  maximize   success_rate ").unwrap();
        assert_eq!(o.cost(0.9), -0.9);
        assert_eq!(o.to_string(), "maximize success_rate");
        assert!(Objective::parse("reduce x").is_err());
        assert!(Objective::parse("minimize").is_err());
        assert!(Objective::parse("minimize a b").is_err());
    }
}
