//! Properties a run must satisfy: built-in safety and liveness properties, or a predicate over
//! the summary's metrics (see [`super::expr`]).

use super::expr::{fmt_num, Expr, Metrics};
use crate::engine::parse_duration;
use crate::model::metrics::Summary;
use std::collections::BTreeSet;

/// One property, as written on the command line or in `[check] properties`.
#[derive(Clone, Debug, PartialEq)]
pub enum Property {
    /// No token family is revoked (reuse detection never fires a revocation).
    NoFamilyRevocation,
    /// The service never performs an invocation's side effect twice.
    NoDuplicateSideEffects,
    /// Nobody has to re-authorize: no manual re-authorization happened and no family is still
    /// revoked at the end.
    NoManualReauth,
    /// No org spends more than this many seconds revoked (getting 401s): the max over orgs of
    /// `orgs.*.seconds_revoked`.
    Max401Seconds(f64),
    /// End-to-end p99 latency (ms) below this.
    P99Below(f64),
    /// Requests reaching the service per invocation below this.
    AmplificationBelow(f64),
    /// After a slow fault (the trigger) ends, goodput comes back (`summary.recovery`). Holds
    /// trivially in a case without a slow fault.
    RecoversAfterTrigger,
    /// A predicate over metrics.
    Expr { text: String, expr: Expr },
}

/// Names of the built-in properties, with their argument.
pub const BUILTINS: [&str; 7] = [
    "no-family-revocation",
    "no-duplicate-side-effects",
    "no-manual-reauth",
    "max-401-seconds=SECONDS",
    "p99-below=DURATION",
    "amplification-below=K",
    "recovers-after-trigger",
];

fn positive(name: &str, v: &str) -> Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| format!("`{name}` needs a non-negative number, e.g. {name}=3 (found `{v}`)"))
}

impl Property {
    pub fn parse(text: &str) -> Result<Property, String> {
        let t = text.trim();
        let (name, arg) = match t.split_once('=') {
            Some((n, a)) if !n.contains(' ') && !a.starts_with('=') && !n.ends_with(['<', '>', '!']) => (n.trim(), Some(a.trim())),
            _ => (t, None),
        };
        fn need<'a>(name: &str, arg: Option<&'a str>, example: &str) -> Result<&'a str, String> {
            arg.ok_or_else(|| format!("`{name}` needs a value: {example}"))
        }
        let no_arg = |p: Property| if arg.is_some() { Err(format!("`{name}` takes no value")) } else { Ok(p) };
        match name {
            "no-family-revocation" => no_arg(Property::NoFamilyRevocation),
            "no-duplicate-side-effects" => no_arg(Property::NoDuplicateSideEffects),
            "no-manual-reauth" => no_arg(Property::NoManualReauth),
            "recovers-after-trigger" => no_arg(Property::RecoversAfterTrigger),
            "max-401-seconds" => {
                let a = need(name, arg, "max-401-seconds=60")?;
                // Seconds, or a duration with a unit.
                match a.parse::<f64>() {
                    Ok(_) => Ok(Property::Max401Seconds(positive(name, a)?)),
                    Err(_) => Ok(Property::Max401Seconds(parse_duration(a).map_err(|e| format!("max-401-seconds: {e}"))?.as_secs_f64())),
                }
            }
            "p99-below" => {
                let a = need(name, arg, "p99-below=20s")?;
                let d = parse_duration(a).map_err(|e| format!("p99-below: {e}"))?;
                Ok(Property::P99Below(d.as_secs_f64() * 1000.0))
            }
            "amplification-below" => Ok(Property::AmplificationBelow(positive(name, need(name, arg, "amplification-below=3")?)?)),
            _ if name.contains('-') && !t.contains(['<', '>', '=', '&', '|']) => Err(format!(
                "unknown property `{t}`; built-in properties: {}; or write a predicate such as `family_revocations == 0 && latency.p99_ms < 20000`",
                BUILTINS.join(", ")
            )),
            _ => {
                let expr = Expr::parse(t).map_err(|e| format!("property `{t}`: {e}"))?;
                Ok(Property::Expr { text: t.to_string(), expr })
            }
        }
    }

    /// The property as written (canonical form for built-ins), used as its test name.
    pub fn name(&self) -> String {
        match self {
            Property::NoFamilyRevocation => "no-family-revocation".into(),
            Property::NoDuplicateSideEffects => "no-duplicate-side-effects".into(),
            Property::NoManualReauth => "no-manual-reauth".into(),
            Property::Max401Seconds(x) => format!("max-401-seconds={}", fmt_num(*x)),
            Property::P99Below(ms) => format!("p99-below={}ms", fmt_num(*ms)),
            Property::AmplificationBelow(k) => format!("amplification-below={}", fmt_num(*k)),
            Property::RecoversAfterTrigger => "recovers-after-trigger".into(),
            Property::Expr { text, .. } => text.clone(),
        }
    }

    /// Whether the property is only meaningful with a slow fault (the trigger).
    pub fn needs_slow_fault(&self) -> bool {
        matches!(self, Property::RecoversAfterTrigger)
    }

    /// Checks that a predicate's metrics exist (keys of one flattened summary of the model).
    pub fn check_metrics(&self, known: &BTreeSet<String>) -> Result<(), String> {
        match self {
            Property::Expr { expr, text } => expr.check_metrics(known).map_err(|e| format!("property `{text}`: {e}")),
            _ => Ok(()),
        }
    }

    /// Ok with what was checked, or Err with why the property does not hold.
    pub fn check(&self, s: &Summary) -> Result<String, String> {
        let verdict = |ok: bool, what: String| if ok { Ok(what) } else { Err(what) };
        match self {
            Property::NoFamilyRevocation => {
                let orgs: Vec<String> = s
                    .orgs
                    .iter()
                    .filter(|o| o.family_revocations > 0)
                    .map(|o| format!("{} at {}", o.org, o.first_401_at_s.map(|t| format!("{t:.1}s")).unwrap_or("-".into())))
                    .collect();
                let first = s.first_revocation_at_s.map(|t| format!(", first at {t:.1}s")).unwrap_or_default();
                verdict(
                    s.family_revocations == 0,
                    format!(
                        "family_revocations = {} (want 0){first}; reuse_detections = {}, lost_rotations = {}{}",
                        s.family_revocations,
                        s.reuse_detections,
                        s.lost_rotations,
                        if orgs.is_empty() { String::new() } else { format!("; orgs revoked (first 401): {}", orgs.join(", ")) }
                    ),
                )
            }
            Property::NoDuplicateSideEffects => {
                let by: Vec<String> = s.duplicates_by_hop.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                verdict(
                    s.duplicate_side_effects == 0,
                    format!(
                        "duplicate_side_effects = {} (want 0){}",
                        s.duplicate_side_effects,
                        if by.is_empty() { String::new() } else { format!("; retried by {}", by.join(", ")) }
                    ),
                )
            }
            Property::NoManualReauth => verdict(
                s.manual_reauths == 0 && s.sessions_needing_manual_reauth == 0 && s.orgs_needing_manual_reauth.is_empty(),
                format!(
                    "manual_reauths = {}, sessions still revoked at the end = {}, orgs needing manual re-auth = [{}] (want none)",
                    s.manual_reauths,
                    s.sessions_needing_manual_reauth,
                    s.orgs_needing_manual_reauth.join(", ")
                ),
            ),
            Property::Max401Seconds(max) => {
                let worst = s.orgs.iter().max_by(|a, b| a.seconds_revoked.total_cmp(&b.seconds_revoked));
                match worst {
                    None => Ok("no org".into()),
                    Some(o) => {
                        verdict(o.seconds_revoked <= *max, format!("orgs.{}.seconds_revoked = {:.1} (want <= {})", o.org, o.seconds_revoked, fmt_num(*max)))
                    }
                }
            }
            Property::P99Below(ms) => verdict(s.latency.p99_ms < *ms, format!("latency.p99_ms = {} (want < {})", fmt_num(s.latency.p99_ms), fmt_num(*ms))),
            Property::AmplificationBelow(k) => verdict(s.amplification < *k, format!("amplification = {:.3} (want < {})", s.amplification, fmt_num(*k))),
            Property::RecoversAfterTrigger => match &s.recovery {
                None => Ok("no slow fault in this case: nothing to recover from".into()),
                Some(r) => verdict(
                    r.recovered_after_trigger,
                    format!(
                        "recovery.recovered_after_trigger = {} after the trigger {:.0}-{:.0} s (goodput before {:.1}/s, at end {:.1}/s)",
                        r.recovered_after_trigger, r.trigger_start_s, r.trigger_end_s, r.goodput_before, r.goodput_at_end
                    ),
                ),
            },
            Property::Expr { expr, .. } => {
                let ev = expr.eval(&metrics(s));
                verdict(ev.holds, ev.detail.join("; "))
            }
        }
    }
}

/// The flattened summary, for predicates.
pub fn metrics(s: &Summary) -> Metrics {
    crate::report::flatten(s).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_and_expressions() {
        assert_eq!(Property::parse("no-family-revocation").unwrap(), Property::NoFamilyRevocation);
        assert_eq!(Property::parse("max-401-seconds=60").unwrap(), Property::Max401Seconds(60.0));
        assert_eq!(Property::parse("max-401-seconds=2m").unwrap(), Property::Max401Seconds(120.0));
        assert_eq!(Property::parse("p99-below=20s").unwrap(), Property::P99Below(20000.0));
        assert_eq!(Property::parse("p99-below=20s").unwrap().name(), "p99-below=20000ms");
        assert_eq!(Property::parse("amplification-below=2.5").unwrap(), Property::AmplificationBelow(2.5));
        assert!(matches!(Property::parse("family_revocations == 0").unwrap(), Property::Expr { .. }));
        assert!(matches!(Property::parse("a>=1").unwrap(), Property::Expr { .. }));
        assert!(matches!(Property::parse("a<=1").unwrap(), Property::Expr { .. }));
        assert!(matches!(Property::parse("a!=1").unwrap(), Property::Expr { .. }));
        assert!(Property::parse("no-such-thing").unwrap_err().contains("unknown property"));
        assert!(Property::parse("p99-below").unwrap_err().contains("needs a value"));
        assert!(Property::parse("p99-below=20").unwrap_err().contains("unit"));
        assert!(Property::parse("no-family-revocation=1").unwrap_err().contains("no value"));
    }
}
