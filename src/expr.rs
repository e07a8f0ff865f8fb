//! Predicates over a run's summary: `metric op number`, joined by `&&` and `||`, with
//! parentheses. `&&` binds tighter than `||`.
//!
//! ```text
//! family_revocations == 0 && latency.p99_ms < 20000
//! orgs.*.seconds_revoked <= 60 || manual_reauths == 0
//! recovery.recovered_after_trigger == true
//! ```
//!
//! Metrics are the dotted keys of [`crate::report::flatten`] (`orgs.B.unauthorized_401`). A `*`
//! segment matches every org or component, and the comparison must hold for each of them.
//! `true`/`false` compare as 1/0. A metric that has no value in a run (`null`: `first_401_at_s`
//! when there was no 401, `recovery.*` without a slow fault) makes its comparison false. An
//! outcome or hop that did not occur (`outcomes.429`, `duplicates_by_hop.edge`) counts 0.

use std::collections::{BTreeMap, BTreeSet};
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
    /// Longest first, so that `<=` is not read as `<`.
    const ALL: [(&'static str, Op); 6] = [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];

    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Eq => a == b,
            Op::Ne => a != b,
            Op::Le => a <= b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Gt => a > b,
        }
    }

    pub fn symbol(self) -> &'static str {
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

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Cmp(Comparison),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

/// The flattened summary, keyed by metric.
pub type Metrics = BTreeMap<String, String>;

/// The result of evaluating an expression: whether it holds, and the values that decided it.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub holds: bool,
    /// `metric = value (want op number)` for each comparison that failed (when the whole
    /// expression failed) or each one evaluated (when it held).
    pub detail: Vec<String>,
}

impl Expr {
    pub fn parse(text: &str) -> Result<Expr, String> {
        let tokens = tokenize(text)?;
        if tokens.is_empty() {
            return Err("empty expression; write e.g. `family_revocations == 0 && latency.p99_ms < 20000`".into());
        }
        let mut p = Parser { tokens, pos: 0 };
        let e = p.or()?;
        if p.pos < p.tokens.len() {
            return Err(format!("unexpected `{}` after a complete expression", p.tokens[p.pos]));
        }
        Ok(e)
    }

    /// Whether the expression holds when metrics take the values `value(name)` gives (no
    /// wildcards). A metric with no value fails its comparison: what could not be measured is
    /// not taken as good.
    pub fn holds_with(&self, value: &dyn Fn(&str) -> Option<f64>) -> bool {
        match self {
            Expr::Cmp(c) => value(&c.metric).is_some_and(|v| c.op.holds(v, c.value)),
            Expr::And(a, b) => a.holds_with(value) && b.holds_with(value),
            Expr::Or(a, b) => a.holds_with(value) || b.holds_with(value),
        }
    }

    /// Every comparison, left to right.
    pub fn comparisons(&self) -> Vec<&Comparison> {
        match self {
            Expr::Cmp(c) => vec![c],
            Expr::And(a, b) | Expr::Or(a, b) => {
                let mut v = a.comparisons();
                v.extend(b.comparisons());
                v
            }
        }
    }

    pub fn eval(&self, m: &Metrics) -> Evaluation {
        match self {
            Expr::Cmp(c) => eval_cmp(c, m),
            Expr::And(a, b) => {
                let (x, y) = (a.eval(m), b.eval(m));
                let holds = x.holds && y.holds;
                let mut detail = vec![];
                for e in [x, y] {
                    if holds || !e.holds {
                        detail.extend(e.detail);
                    }
                }
                Evaluation { holds, detail }
            }
            Expr::Or(a, b) => {
                let (x, y) = (a.eval(m), b.eval(m));
                let holds = x.holds || y.holds;
                let mut detail = vec![];
                for e in [x, y] {
                    if !holds || e.holds {
                        detail.extend(e.detail);
                    }
                }
                Evaluation { holds, detail }
            }
        }
    }

    /// Checks that every metric names a key of a summary (`known`: the keys of one flattened
    /// summary of the model), allowing keys that only exist in some runs.
    pub fn check_metrics(&self, known: &BTreeSet<String>) -> Result<(), String> {
        for c in self.comparisons() {
            if !metric_is_known(&c.metric, known) {
                let last = c.metric.rsplit('.').next().unwrap_or("");
                let mut near: Vec<&str> = known.iter().filter(|k| k.rsplit('.').next() == Some(last) || k.contains(last)).map(|k| k.as_str()).take(8).collect();
                if near.is_empty() {
                    near = known.iter().filter(|k| !k.contains('.')).map(|k| k.as_str()).take(12).collect();
                }
                return Err(format!("unknown metric `{}`; metrics are the keys of `edgesim run --format csv`, e.g. {}", c.metric, near.join(", ")));
            }
        }
        Ok(())
    }
}

/// Keys that exist only when something happened: outcomes by status, duplicates by hop, and the
/// fields of `recovery` (null without a slow fault).
fn dynamic_key(metric: &str) -> bool {
    let segs: Vec<&str> = metric.split('.').collect();
    const RECOVERY: [&str; 6] = ["trigger_start_s", "trigger_end_s", "goodput_before", "goodput_at_end", "recovered_after_trigger", "time_to_recover_s"];
    matches!(segs.as_slice(), ["outcomes", _] | ["orgs", _, "outcomes", _] | ["duplicates_by_hop", _])
        || matches!(segs.as_slice(), ["recovery", f] if RECOVERY.contains(f))
}

fn metric_is_known(metric: &str, known: &BTreeSet<String>) -> bool {
    if dynamic_key(metric) && !metric.starts_with("orgs.") {
        return true;
    }
    if let ["orgs", org, "outcomes", _] = metric.split('.').collect::<Vec<_>>().as_slice() {
        return *org == "*" || known.iter().any(|k| k.starts_with(&format!("orgs.{org}.")));
    }
    !matching(metric, known.iter().map(|k| k.as_str())).is_empty()
}

/// Keys matching a metric pattern (`*` matches one segment).
fn matching<'a>(pattern: &str, keys: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    if !pattern.contains('*') {
        return keys.filter(|k| *k == pattern).collect();
    }
    let p: Vec<&str> = pattern.split('.').collect();
    keys.filter(|k| {
        let s: Vec<&str> = k.split('.').collect();
        s.len() == p.len() && s.iter().zip(&p).all(|(a, b)| *b == "*" || a == b)
    })
    .collect()
}

fn number(v: &str) -> Option<f64> {
    match v {
        "true" => Some(1.0),
        "false" => Some(0.0),
        _ => v.parse().ok(),
    }
}

fn eval_cmp(c: &Comparison, m: &Metrics) -> Evaluation {
    let want = format!("want {} {}", c.op.symbol(), fmt_num(c.value));
    let mut keys = matching(&c.metric, m.keys().map(|k| k.as_str()));
    let mut values: Vec<(String, Option<f64>)> = keys.drain(..).map(|k| (k.to_string(), number(&m[k]))).collect();
    if values.is_empty() {
        if dynamic_key(&c.metric) && !c.metric.starts_with("recovery.") && !c.metric.contains('*') {
            values.push((c.metric.clone(), Some(0.0)));
        } else if c.metric.starts_with("recovery.") && m.get("recovery").is_some_and(|v| v.is_empty()) {
            values.push((c.metric.clone(), None));
        } else if c.metric.contains('*') {
            // No org or component matched: nothing to check.
            return Evaluation { holds: true, detail: vec![format!("{}: nothing matched ({want})", c.metric)] };
        } else {
            return Evaluation { holds: false, detail: vec![format!("{} is not a metric of this run ({want})", c.metric)] };
        }
    }
    let mut holds = true;
    let mut detail = vec![];
    for (k, v) in values {
        match v {
            Some(x) if c.op.holds(x, c.value) => detail.push(format!("{k} = {} ({want})", fmt_num(x))),
            Some(x) => {
                holds = false;
                detail.push(format!("{k} = {} ({want})", fmt_num(x)));
            }
            None => {
                holds = false;
                detail.push(format!("{k} has no value in this run ({want})"));
            }
        }
    }
    if !holds {
        // Only the offending values are interesting.
        detail.retain(|d| {
            let val = d.split(" = ").nth(1).and_then(|r| r.split(' ').next()).and_then(|x| x.parse::<f64>().ok());
            !matches!(val, Some(x) if c.op.holds(x, c.value))
        });
    }
    Evaluation { holds, detail }
}

pub fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn tokenize(text: &str) -> Result<Vec<String>, String> {
    let mut out = vec![];
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let rest = &text[i..];
        if rest.starts_with("&&") || rest.starts_with("||") {
            out.push(rest[..2].to_string());
            i += 2;
            continue;
        }
        if c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
            continue;
        }
        if let Some((sym, _)) = Op::ALL.iter().find(|(s, _)| rest.starts_with(s)) {
            out.push(sym.to_string());
            i += sym.len();
            continue;
        }
        if c == '&' || c == '|' || c == '=' || c == '!' {
            return Err(format!("unexpected `{c}` at column {}; use `&&`, `||`, `==`, `!=`", i + 1));
        }
        let start = i;
        while i < b.len() {
            let c = b[i] as char;
            if c.is_whitespace() || "()<>=!&|".contains(c) {
                break;
            }
            i += 1;
        }
        out.push(text[start..i].to_string());
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(|s| s.as_str())
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek() == Some("||") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.atom()?;
        while self.peek() == Some("&&") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.atom()?));
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr, String> {
        match self.peek() {
            Some("(") => {
                self.pos += 1;
                let e = self.or()?;
                if self.next().as_deref() != Some(")") {
                    return Err("missing `)`".into());
                }
                Ok(e)
            }
            None => Err("the expression ends early; expected `metric op number`".into()),
            Some(_) => self.comparison(),
        }
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let metric = self.next().expect("peeked");
        if is_symbol(&metric) {
            return Err(format!("expected a metric name, found `{metric}`"));
        }
        if number(&metric).is_some() {
            return Err(format!("expected a metric name on the left, found the number `{metric}`; write `metric op number`"));
        }
        let op_text = self.next().ok_or_else(|| format!("`{metric}` needs a comparison, e.g. `{metric} == 0`"))?;
        let op = Op::ALL
            .iter()
            .find(|(s, _)| *s == op_text)
            .map(|(_, o)| *o)
            .ok_or_else(|| format!("expected one of == != < <= > >= after `{metric}`, found `{op_text}`"))?;
        let v = self.next().ok_or_else(|| format!("`{metric} {op_text}` needs a number"))?;
        let value = number(&v).filter(|x| x.is_finite()).ok_or_else(|| format!("`{v}` is not a number (in `{metric} {op_text} {v}`)"))?;
        Ok(Expr::Cmp(Comparison { metric, op, value }))
    }
}

fn is_symbol(t: &str) -> bool {
    matches!(t, "(" | ")" | "&&" | "||") || Op::ALL.iter().any(|(s, _)| *s == t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(pairs: &[(&str, &str)]) -> Metrics {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn precedence_and_parentheses() {
        let e = Expr::parse("a == 1 || b == 1 && c == 1").unwrap();
        assert!(matches!(e, Expr::Or(_, _)));
        let e = Expr::parse("(a == 1 || b == 1) && c == 1").unwrap();
        assert!(matches!(e, Expr::And(_, _)));
        let m = metrics(&[("a", "1"), ("b", "0"), ("c", "0")]);
        assert!(Expr::parse("a == 1 || b == 1 && c == 1").unwrap().eval(&m).holds);
        assert!(!Expr::parse("(a == 1 || b == 1) && c == 1").unwrap().eval(&m).holds);
    }

    #[test]
    fn operators_without_spaces() {
        let e = Expr::parse("latency.p99_ms<=20000&&family_revocations!=1").unwrap();
        let c = e.comparisons();
        assert_eq!(c[0].op, Op::Le);
        assert_eq!(c[1].metric, "family_revocations");
        assert_eq!(c[1].op, Op::Ne);
    }

    #[test]
    fn wildcard_must_hold_for_every_match() {
        let m = metrics(&[("orgs.A.seconds_revoked", "0"), ("orgs.B.seconds_revoked", "600")]);
        let ev = Expr::parse("orgs.*.seconds_revoked <= 60").unwrap().eval(&m);
        assert!(!ev.holds);
        assert_eq!(ev.detail, vec!["orgs.B.seconds_revoked = 600 (want <= 60)".to_string()]);
        assert!(Expr::parse("orgs.*.seconds_revoked <= 600").unwrap().eval(&m).holds);
    }

    #[test]
    fn null_is_false_and_absent_outcome_is_zero() {
        let m = metrics(&[("recovery", ""), ("outcomes.200", "5")]);
        assert!(!Expr::parse("recovery.recovered_after_trigger == true").unwrap().eval(&m).holds);
        assert!(Expr::parse("outcomes.429 == 0 && outcomes.200 == 5").unwrap().eval(&m).holds);
        let m = metrics(&[("recovery.recovered_after_trigger", "true")]);
        assert!(Expr::parse("recovery.recovered_after_trigger == true").unwrap().eval(&m).holds);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(Expr::parse("").unwrap_err().contains("empty"));
        assert!(Expr::parse("a = 1").unwrap_err().contains("=="));
        assert!(Expr::parse("a == x").unwrap_err().contains("not a number"));
        assert!(Expr::parse("a == 1 &&").unwrap_err().contains("ends early"));
        assert!(Expr::parse("(a == 1").unwrap_err().contains(")"));
        assert!(Expr::parse("1 == a").unwrap_err().contains("metric name"));
        assert!(Expr::parse("a == 1 b").unwrap_err().contains("unexpected"));
        let known: BTreeSet<String> = ["family_revocations".to_string(), "orgs.A.seconds_revoked".to_string()].into();
        assert!(Expr::parse("family_revocation == 0").unwrap().check_metrics(&known).is_err());
        assert!(Expr::parse("orgs.*.seconds_revoked == 0 && outcomes.401 == 0").unwrap().check_metrics(&known).is_ok());
    }
}
