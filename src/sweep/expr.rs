//! Constraints and objectives: a tiny expression language over flattened summary keys.
//!
//! A constraint is `metric op number`, several joined by `&&`:
//! `family_revocations == 0 && latency.p99_ms <= 20000`. Operators: `==`, `!=`, `<=`, `>=`, `<`,
//! `>`. An objective is `minimize metric` or `maximize metric`.

use std::fmt;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
}

impl Op {
    /// Longest first, so `<=` is not read as `<`.
    const ALL: [(&'static str, Op); 6] = [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];

    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Le => a <= b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Gt => a > b,
        }
    }
    fn symbol(self) -> &'static str {
        Op::ALL.iter().find(|(_, o)| *o == self).map(|(s, _)| *s).expect("listed")
    }
}

/// `metric op number`.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub metric: String,
    pub op: Op,
    pub value: f64,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op.symbol(), self.value)
    }
}

/// One entry of `constraints`: every comparison must hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Constraint {
    /// As written in the experiment file.
    pub text: String,
    pub all: Vec<Comparison>,
}

impl Constraint {
    pub fn parse(text: &str) -> Result<Constraint, String> {
        let mut all = vec![];
        for part in text.split("&&") {
            all.push(parse_comparison(part.trim()).map_err(|e| format!("in `{}`: {e}", text.trim()))?);
        }
        Ok(Constraint { text: text.trim().to_string(), all })
    }

    /// Whether the constraint holds when metrics take the values `value(name)` gives. A metric
    /// with no value (a run that failed, an empty cell) fails the comparison: a sweep should not
    /// recommend what it could not measure.
    pub fn holds(&self, value: impl Fn(&str) -> Option<f64>) -> bool {
        self.all.iter().all(|c| value(&c.metric).is_some_and(|v| c.op.holds(v, c.value)))
    }

    pub fn metrics(&self) -> impl Iterator<Item = &str> {
        self.all.iter().map(|c| c.metric.as_str())
    }
}

fn parse_comparison(text: &str) -> Result<Comparison, String> {
    let (at, sym, op) = Op::ALL
        .iter()
        .filter_map(|(s, o)| text.find(s).map(|i| (i, *s, *o)))
        // The leftmost operator; at equal positions the longer symbol (listed first) wins.
        .min_by_key(|(i, _, _)| *i)
        .ok_or_else(|| format!("`{text}` has no comparison; write e.g. `latency.p99_ms <= 20000` (operators == != <= >= < >)"))?;
    let metric = text[..at].trim();
    let number = text[at + sym.len()..].trim();
    if metric.is_empty() {
        return Err(format!("`{text}`: a metric name must come before `{sym}`"));
    }
    if !is_metric_name(metric) {
        return Err(format!("`{metric}` is not a metric name (flattened summary keys look like latency.p99_ms or orgs.B.success_rate)"));
    }
    let value: f64 = number.parse().map_err(|_| format!("`{number}` after `{sym}` is not a number"))?;
    if !value.is_finite() {
        return Err(format!("`{number}` is not a finite number"));
    }
    Ok(Comparison { metric: metric.to_string(), op, value })
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

    #[test]
    fn parses_and_evaluates_constraints() {
        let c = Constraint::parse("family_revocations == 0 && latency.p99_ms<=20000").unwrap();
        assert_eq!(c.all.len(), 2);
        assert_eq!(c.all[1], Comparison { metric: "latency.p99_ms".into(), op: Op::Le, value: 20000.0 });
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
            assert_eq!(Constraint::parse(text).unwrap().all[0].op, op, "{text}");
        }
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
