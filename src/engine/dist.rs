//! Distributions of durations: latencies, think times, inter-arrival gaps.
//!
//! A [`Dist`] is always validated before it is sampled: deserialisation goes through a private
//! spec type and then [`Dist::validate`], so a malformed table in a scenario file fails at parse
//! time, pointing at the offending table, instead of producing nonsense in the middle of a run.
//!
//! Accepted TOML forms:
//!
//! ```toml
//! a = "20ms"                                                     # constant
//! b = { dist = "constant", value = "20ms" }
//! c = { dist = "uniform", low = "10ms", high = "30ms" }
//! d = { dist = "exponential", mean = "50ms" }
//! e = { dist = "normal", mean = "50ms", std_dev = "10ms" }       # truncated at zero
//! f = { dist = "lognormal", median = "20ms", p99 = "200ms" }
//! g = { dist = "lognormal", mu = -3.9, sigma = 0.9 }             # of ln(seconds)
//! h = { dist = "empirical", quantiles = [[0.0, "5ms"], [0.5, "20ms"], [0.99, "200ms"], [1.0, "1s"]] }
//! i = { dist = "mixture", parts = [ { weight = 0.99, dist = "20ms" },
//!                                   { weight = 0.01, dist = { dist = "constant", value = "1s" } } ] }
//! ```
//!
//! Sampling works in microseconds as `f64` and rounds once at the end, so sub-microsecond
//! parameters still shape the distribution and the result lands on the engine's integer clock.

use super::time::{parse_duration, SimDuration};
use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use serde::de::{self, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// z such that Phi(z) = 0.99: converts a median/p99 pair into the lognormal's sigma.
const Z_P99: f64 = 2.326_347_874;

/// ln(10^6). Lognormal parameters are in ln(seconds); adding this once moves them to
/// ln(microseconds), so sampling needs no extra multiply.
const LN_MICROS_PER_SECOND: f64 = 13.815_510_557_964_274;

/// Rejection-sampling budget for the zero-truncated normal. Validation keeps the mean
/// non-negative, so each draw is rejected with probability at most 1/2 and all 64 fail with
/// probability at most 2^-64: the fallback exists only to bound the loop, never to shape the
/// distribution.
const MAX_NORMAL_TRIES: u32 = 64;

/// Largest sample the engine hands out, matching `SimDuration::from_secs_f64`'s clamp: far beyond
/// any run's horizon, yet small enough that adding a few of them to a `SimTime` cannot overflow.
const MAX_SAMPLE_MICROS: u64 = u64::MAX / 4;

/// How far mixture weights may stray from summing to one before [`Dist::validate`] complains.
/// Normalising in `f64` leaves errors of a few ulps; anything larger means unnormalised input.
const WEIGHT_SUM_TOLERANCE: f64 = 1e-9;

/// A distribution of durations.
///
/// Fields are public so callers can match on the shape (e.g. to print or scale a model); build
/// values with the constructors or deserialisation, or call [`Dist::validate`] on a hand-built
/// one. Sampling an invalid `Dist` may panic or return meaningless values.
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    /// Always `value`.
    Constant { value: SimDuration },
    /// Uniform on `[low, high]`, at microsecond resolution.
    Uniform { low: SimDuration, high: SimDuration },
    /// Exponential with the given mean: memoryless gaps between independent arrivals.
    Exponential { mean: SimDuration },
    /// Normal truncated at zero (not clamped: negative draws are redrawn, see [`Dist::sample`]).
    /// `mean` and `std_dev` are those of the untruncated normal.
    Normal { mean: SimDuration, std_dev: SimDuration },
    /// `exp(N(mu, sigma^2))` seconds: `mu` and `sigma` are the mean and standard deviation of
    /// ln(seconds), so the median is `exp(mu)` seconds.
    Lognormal { mu: f64, sigma: f64 },
    /// Piecewise-linear inverse CDF through `(cumulative probability, duration)` points. The
    /// probabilities start at 0, end at 1 and strictly increase; durations never decrease.
    Empirical { points: Vec<(f64, SimDuration)> },
    /// Picks part `i` with probability `weight_i` (weights sum to one), then samples it.
    Mixture { parts: Vec<(f64, Dist)> },
}

impl Dist {
    /// A distribution that always yields `d`.
    pub fn constant(d: SimDuration) -> Dist {
        Dist::Constant { value: d }
    }

    /// An exponential distribution with mean `mean`.
    pub fn exponential(mean: SimDuration) -> Dist {
        Dist::Exponential { mean }
    }

    /// The lognormal whose median and 99th percentile are the given durations: the usual way
    /// latency is quoted, and easier to get right than ln-space parameters.
    pub fn lognormal_median_p99(median: SimDuration, p99: SimDuration) -> Result<Dist, String> {
        if median.is_zero() {
            return Err(format!(
                "lognormal: median must be positive (a lognormal is never zero), got {median}; \
                 hint: use a constant \"0\" or a small median such as \"1us\""
            ));
        }
        if p99 < median {
            return Err(format!(
                "lognormal: p99 ({p99}) must be at least the median ({median}); \
                 hint: the two look swapped"
            ));
        }
        let mu = median.as_secs_f64().ln();
        let sigma = (p99.micros() as f64 / median.micros() as f64).ln() / Z_P99;
        let d = Dist::Lognormal { mu, sigma };
        d.validate()?;
        Ok(d)
    }

    /// A mixture from `(weight, dist)` pairs with any positive finite weights; they are
    /// normalised to sum to one.
    pub fn mixture(parts: Vec<(f64, Dist)>) -> Result<Dist, String> {
        for (i, (w, _)) in parts.iter().enumerate() {
            check_weight(i, *w)?;
        }
        let total: f64 = parts.iter().map(|(w, _)| w).sum();
        let d = Dist::Mixture { parts: parts.into_iter().map(|(w, d)| (w / total, d)).collect() };
        d.validate()?;
        Ok(d)
    }

    /// Checks the invariants sampling relies on. The message names the variant, states what was
    /// expected and suggests a fix, because it ends up in front of whoever wrote the scenario.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            // Durations are unsigned integers parsed with a unit, so they are already finite and
            // non-negative; only relations between them can be wrong.
            Dist::Constant { .. } | Dist::Exponential { .. } | Dist::Normal { .. } => Ok(()),
            Dist::Uniform { low, high } => {
                if low > high {
                    Err(format!(
                        "uniform: low ({low}) is greater than high ({high}); expected low <= high; \
                         hint: swap them"
                    ))
                } else {
                    Ok(())
                }
            }
            Dist::Lognormal { mu, sigma } => {
                if !mu.is_finite() {
                    return Err(format!(
                        "lognormal: mu must be a finite number (the mean of ln(seconds)), got {mu}; \
                         hint: mu = ln(median in seconds), e.g. -3.9 for a 20ms median, \
                         or give `median` and `p99` instead"
                    ));
                }
                if !sigma.is_finite() || *sigma < 0.0 {
                    return Err(format!(
                        "lognormal: sigma must be finite and non-negative, got {sigma}; \
                         hint: sigma = ln(p99 / median) / 2.326, or give `median` and `p99` instead"
                    ));
                }
                Ok(())
            }
            Dist::Empirical { points } => validate_empirical(points),
            Dist::Mixture { parts } => {
                if parts.is_empty() {
                    return Err("mixture: expected at least one part; \
                                hint: parts = [{ weight = 1.0, dist = \"20ms\" }]"
                        .to_string());
                }
                for (i, (w, d)) in parts.iter().enumerate() {
                    check_weight(i, *w)?;
                    d.validate().map_err(|e| format!("mixture: part {i}: {e}"))?;
                }
                let total: f64 = parts.iter().map(|(w, _)| w).sum();
                if (total - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
                    return Err(format!(
                        "mixture: weights must sum to 1, they sum to {total}; \
                         hint: build it with Dist::mixture, which normalises"
                    ));
                }
                Ok(())
            }
        }
    }

    /// Draws one duration.
    ///
    /// This is on the engine's hot path, so it never allocates and every variant's parameters
    /// are already in the form the draw needs: the exponential and normal scale a standard
    /// variate from `rand_distr` (ziggurat) by the stored microsecond values, the lognormal adds
    /// one constant to go from ln-seconds to ln-microseconds, and mixture weights are stored
    /// normalised. None of them needs a division or a `ln` per draw.
    ///
    /// The normal is truncated at zero by rejection: negative draws are redrawn rather than
    /// clamped, because clamping would pile the whole negative tail onto an atom at zero while
    /// rejection yields exactly the normal conditioned on being non-negative, whose mean
    /// [`Dist::mean_secs`] reports in closed form. After 64 rejections (probability at most
    /// 2^-64 for a valid, non-negative mean) it returns zero.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match self {
            Dist::Constant { value } => *value,
            Dist::Uniform { low, high } => SimDuration(rng.gen_range(low.0..=high.0)),
            Dist::Exponential { mean } => {
                let e: f64 = Exp1.sample(rng);
                round_micros(mean.0 as f64 * e)
            }
            Dist::Normal { mean, std_dev } => {
                let (m, s) = (mean.0 as f64, std_dev.0 as f64);
                for _ in 0..MAX_NORMAL_TRIES {
                    let z: f64 = StandardNormal.sample(rng);
                    let x = m + s * z;
                    if x >= 0.0 {
                        return round_micros(x);
                    }
                }
                SimDuration::ZERO
            }
            Dist::Lognormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                round_micros((mu + LN_MICROS_PER_SECOND + sigma * z).exp())
            }
            Dist::Empirical { points } => {
                let u: f64 = rng.gen();
                // First point with probability > u. Validation guarantees points[0].0 == 0 <= u
                // and points[last].0 == 1 > u, so `i` names a real segment.
                let i = points.partition_point(|&(p, _)| p <= u);
                let (p0, d0) = points[i - 1];
                let (p1, d1) = points[i];
                let (d0, d1) = (d0.0 as f64, d1.0 as f64);
                round_micros(d0 + (d1 - d0) * ((u - p0) / (p1 - p0)))
            }
            Dist::Mixture { parts } => {
                let mut u: f64 = rng.gen();
                for (w, d) in parts {
                    if u < *w {
                        return d.sample(rng);
                    }
                    u -= w;
                }
                // Only reachable when rounding leaves the weights summing to a hair under one.
                parts[parts.len() - 1].1.sample(rng)
            }
        }
    }

    /// The exact mean, in seconds (up to the sub-microsecond rounding of each sample).
    ///
    /// The truncated normal uses `mean + sd * phi(a) / Phi(a)` with `a = mean / sd`; `Phi` comes
    /// from an `erfc` approximation with relative error below 1.2e-7, so the result is good to
    /// about 1e-7 of the standard deviation. The empirical mean is the integral of its
    /// piecewise-linear inverse CDF, which the trapezoid rule computes exactly.
    pub fn mean_secs(&self) -> f64 {
        match self {
            Dist::Constant { value } => value.as_secs_f64(),
            Dist::Uniform { low, high } => (low.as_secs_f64() + high.as_secs_f64()) / 2.0,
            Dist::Exponential { mean } => mean.as_secs_f64(),
            Dist::Normal { mean, std_dev } => {
                let (m, s) = (mean.as_secs_f64(), std_dev.as_secs_f64());
                if s == 0.0 {
                    return m;
                }
                let a = m / s;
                // Phi(a) >= 1/2 because the mean is non-negative: no cancellation here.
                m + s * std_normal_pdf(a) / std_normal_cdf(a)
            }
            Dist::Lognormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Dist::Empirical { points } => points
                .windows(2)
                .map(|w| {
                    let ((p0, d0), (p1, d1)) = (w[0], w[1]);
                    (p1 - p0) * (d0.as_secs_f64() + d1.as_secs_f64()) / 2.0
                })
                .sum(),
            Dist::Mixture { parts } => {
                let total: f64 = parts.iter().map(|(w, _)| w).sum();
                parts.iter().map(|(w, d)| w * d.mean_secs()).sum::<f64>() / total
            }
        }
    }

    /// The same distribution with every duration multiplied by `k`: a fault window that makes a
    /// component `k` times slower. Validity is preserved, since scaling by a positive factor and
    /// rounding are both monotone.
    ///
    /// # Panics
    /// If `k` is not finite and positive; validate factors where they are parsed.
    pub fn scaled(&self, k: f64) -> Dist {
        assert!(k.is_finite() && k > 0.0, "Dist::scaled: factor must be finite and positive, got {k}");
        match self {
            Dist::Constant { value } => Dist::Constant { value: value.mul_f64(k) },
            Dist::Uniform { low, high } => Dist::Uniform { low: low.mul_f64(k), high: high.mul_f64(k) },
            Dist::Exponential { mean } => Dist::Exponential { mean: mean.mul_f64(k) },
            Dist::Normal { mean, std_dev } => Dist::Normal { mean: mean.mul_f64(k), std_dev: std_dev.mul_f64(k) },
            // Scaling a lognormal shifts its log: exact, with no rounding at all.
            Dist::Lognormal { mu, sigma } => Dist::Lognormal { mu: mu + k.ln(), sigma: *sigma },
            Dist::Empirical { points } => Dist::Empirical { points: points.iter().map(|&(p, d)| (p, d.mul_f64(k))).collect() },
            Dist::Mixture { parts } => Dist::Mixture { parts: parts.iter().map(|(w, d)| (*w, d.scaled(k))).collect() },
        }
    }
}

impl Distribution<SimDuration> for Dist {
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        Dist::sample(self, rng)
    }
}

/// Rounds a non-negative microsecond count to the engine clock. `+ 0.5` then truncation is
/// round-half-up for the non-negative values that reach here, without a libm call on targets
/// lacking a rounding instruction; `as` saturates, and the clamp keeps sums of samples in range.
fn round_micros(us: f64) -> SimDuration {
    if us.is_nan() || us <= 0.0 {
        return SimDuration::ZERO;
    }
    SimDuration(((us + 0.5) as u64).min(MAX_SAMPLE_MICROS))
}

fn check_weight(i: usize, w: f64) -> Result<(), String> {
    if w.is_finite() && w > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "mixture: part {i} has weight {w}; expected a positive, finite weight; \
             hint: drop parts that should never be chosen"
        ))
    }
}

fn validate_empirical(points: &[(f64, SimDuration)]) -> Result<(), String> {
    if points.len() < 2 {
        return Err(format!(
            "empirical: expected at least two quantiles, from [0.0, <minimum>] to [1.0, <maximum>], \
             got {}; hint: quantiles = [[0.0, \"5ms\"], [0.5, \"20ms\"], [1.0, \"1s\"]]",
            points.len()
        ));
    }
    for (i, &(p, _)) in points.iter().enumerate() {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!(
                "empirical: probability {p} at position {i} is outside [0, 1]; \
                 hint: write cumulative probabilities, e.g. 0.99 for p99, not 99"
            ));
        }
    }
    let (first, last) = (points[0].0, points[points.len() - 1].0);
    if first != 0.0 {
        return Err(format!(
            "empirical: the first probability must be 0.0 (the minimum), got {first}; \
             hint: add [0.0, \"<smallest possible duration>\"]"
        ));
    }
    if last != 1.0 {
        return Err(format!(
            "empirical: the last probability must be 1.0 (the maximum), got {last}; \
             hint: add [1.0, \"<largest possible duration>\"]"
        ));
    }
    for (i, w) in points.windows(2).enumerate() {
        let ((p0, d0), (p1, d1)) = (w[0], w[1]);
        if p1 <= p0 {
            return Err(format!(
                "empirical: probabilities must be strictly increasing, but {p1} at position {} \
                 follows {p0}; hint: sort the table and merge repeated probabilities",
                i + 1
            ));
        }
        if d1 < d0 {
            return Err(format!(
                "empirical: durations must be non-decreasing (the table is an inverse CDF), but \
                 {d1} at probability {p1} is below {d0} at {p0}; hint: each duration must be the \
                 quantile at its probability"
            ));
        }
    }
    Ok(())
}

fn std_normal_pdf(x: f64) -> f64 {
    const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
    INV_SQRT_2PI * (-0.5 * x * x).exp()
}

fn std_normal_cdf(x: f64) -> f64 {
    0.5 * erfc(-x / std::f64::consts::SQRT_2)
}

/// Complementary error function, Chebyshev fit from Numerical Recipes (`erfcc`): relative error
/// below 1.2e-7 for every x. Ample for a mean, and avoids a dependency for one function.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06 + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

// ---------------------------------------------------------------------------------------------
// Serde. Users write the "spec" shape; `Dist` is the validated, sampling-ready form. Parsing
// builds an unvalidated `RawDist` tree first (serde's derive does the field bookkeeping,
// including rejecting unknown keys), then converts and validates it in one pass, so an error
// deep inside a mixture says which part it is in.

/// What a user may write where a distribution is expected: a bare duration or a tagged table.
enum RawDist {
    Bare(SimDuration),
    Table(Spec),
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
enum Spec {
    Constant {
        value: SimDuration,
    },
    Uniform {
        low: SimDuration,
        high: SimDuration,
    },
    Exponential {
        mean: SimDuration,
    },
    Normal {
        mean: SimDuration,
        std_dev: SimDuration,
    },
    /// Either `median` and `p99`, or `mu` and `sigma`.
    Lognormal {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        median: Option<SimDuration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p99: Option<SimDuration>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mu: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sigma: Option<f64>,
    },
    Empirical {
        quantiles: Vec<(f64, SimDuration)>,
    },
    Mixture {
        parts: Vec<PartSpec>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartSpec {
    weight: f64,
    dist: RawDist,
}

impl TryFrom<RawDist> for Dist {
    type Error = String;

    fn try_from(raw: RawDist) -> Result<Dist, String> {
        let spec = match raw {
            RawDist::Bare(value) => return Ok(Dist::Constant { value }),
            RawDist::Table(spec) => spec,
        };
        let d = match spec {
            Spec::Constant { value } => Dist::Constant { value },
            Spec::Uniform { low, high } => Dist::Uniform { low, high },
            Spec::Exponential { mean } => Dist::Exponential { mean },
            Spec::Normal { mean, std_dev } => Dist::Normal { mean, std_dev },
            Spec::Lognormal { median, p99, mu, sigma } => match (median, p99, mu, sigma) {
                (Some(median), Some(p99), None, None) => return Dist::lognormal_median_p99(median, p99),
                (None, None, Some(mu), Some(sigma)) => Dist::Lognormal { mu, sigma },
                _ => {
                    return Err("lognormal: expected either `median` and `p99`, or `mu` and \
                                `sigma` (of ln seconds), and not a mix of the two; hint: \
                                { dist = \"lognormal\", median = \"20ms\", p99 = \"200ms\" }"
                        .to_string())
                }
            },
            Spec::Empirical { quantiles } => Dist::Empirical { points: quantiles },
            Spec::Mixture { parts } => {
                let parts = parts
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let d = Dist::try_from(p.dist).map_err(|e| format!("mixture: part {i}: {e}"))?;
                        Ok((p.weight, d))
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                return Dist::mixture(parts);
            }
        };
        d.validate()?;
        Ok(d)
    }
}

impl From<&Dist> for RawDist {
    fn from(d: &Dist) -> RawDist {
        let spec = match d {
            // The bare-string form is the one people write, and the shortest to read back.
            Dist::Constant { value } => return RawDist::Bare(*value),
            Dist::Uniform { low, high } => Spec::Uniform { low: *low, high: *high },
            Dist::Exponential { mean } => Spec::Exponential { mean: *mean },
            Dist::Normal { mean, std_dev } => Spec::Normal { mean: *mean, std_dev: *std_dev },
            // mu/sigma is the exact stored form; going back to median/p99 would round.
            Dist::Lognormal { mu, sigma } => Spec::Lognormal { median: None, p99: None, mu: Some(*mu), sigma: Some(*sigma) },
            Dist::Empirical { points } => Spec::Empirical { quantiles: points.clone() },
            Dist::Mixture { parts } => Spec::Mixture { parts: parts.iter().map(|(w, d)| PartSpec { weight: *w, dist: RawDist::from(d) }).collect() },
        };
        RawDist::Table(spec)
    }
}

impl Serialize for RawDist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RawDist::Bare(value) => value.serialize(s),
            RawDist::Table(spec) => spec.serialize(s),
        }
    }
}

impl Serialize for Dist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        RawDist::from(self).serialize(s)
    }
}

const DIST_NAMES: &[&str] = &["constant", "uniform", "exponential", "normal", "lognormal", "empirical", "mixture"];

impl<'de> Deserialize<'de> for RawDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawDist;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration such as \"20ms\", or a table such as \
                     { dist = \"exponential\", mean = \"50ms\" }",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawDist, E> {
                if DIST_NAMES.contains(&v.trim()) {
                    return Err(E::custom(format!(
                        "`{v}` is a distribution name, not a duration; write a table such as \
                         {{ dist = \"{v}\", ... }} (inside a mixture part: \
                         dist = {{ dist = \"{v}\", ... }})"
                    )));
                }
                parse_duration(v).map(RawDist::Bare).map_err(E::custom)
            }

            // Bare numbers: defer to SimDuration, which accepts 0 and explains the missing unit
            // for anything else.
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawDist, E> {
                SimDuration::deserialize(v.into_deserializer()).map(RawDist::Bare)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawDist, E> {
                SimDuration::deserialize(v.into_deserializer()).map(RawDist::Bare)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawDist, E> {
                SimDuration::deserialize(v.into_deserializer()).map(RawDist::Bare)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawDist, A::Error> {
                Spec::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawDist::Table)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Dist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Dist::try_from(RawDist::deserialize(d)?).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha12Rng;

    const MS: fn(u64) -> SimDuration = SimDuration::from_millis;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Wrapper {
        latency: Dist,
    }

    fn parse(value: &str) -> Result<Dist, String> {
        toml::from_str::<Wrapper>(&format!("latency = {value}")).map(|w| w.latency).map_err(|e| e.to_string())
    }

    fn rng(seed: u64) -> ChaCha12Rng {
        ChaCha12Rng::seed_from_u64(seed)
    }

    fn samples_secs(d: &Dist, n: usize, seed: u64) -> Vec<f64> {
        let mut r = rng(seed);
        (0..n).map(|_| d.sample(&mut r).as_secs_f64()).collect()
    }

    fn examples() -> Vec<(&'static str, Dist)> {
        vec![
            ("constant", Dist::constant(MS(20))),
            ("uniform", Dist::Uniform { low: MS(10), high: MS(30) }),
            ("exponential", Dist::exponential(MS(50))),
            ("normal (mildly truncated)", Dist::Normal { mean: MS(50), std_dev: MS(10) }),
            (
                // a = 1: the truncation moves the mean by ~2.9ms, so the closed form is exercised.
                "normal (heavily truncated)",
                Dist::Normal { mean: MS(10), std_dev: MS(10) },
            ),
            ("half-normal", Dist::Normal { mean: SimDuration::ZERO, std_dev: MS(10) }),
            ("lognormal", Dist::Lognormal { mu: -3.9, sigma: 0.9 }),
            ("empirical", Dist::Empirical { points: vec![(0.0, MS(5)), (0.5, MS(20)), (0.99, MS(200)), (1.0, MS(1000))] }),
            ("mixture", Dist::mixture(vec![(0.99, Dist::constant(MS(20))), (0.01, Dist::exponential(MS(1000)))]).unwrap()),
        ]
    }

    /// Sample mean against `mean_secs` for every variant.
    ///
    /// Tolerance: 5 standard errors of the sample mean, `5 * s / sqrt(n)` with `s` the sample
    /// standard deviation and n = 200 000. By the CLT (n is large enough even for the skewed
    /// lognormal and the 1%-heavy mixture) a correct implementation lands outside with
    /// probability 2 * (1 - Phi(5)) = 5.7e-7 < 1e-6 per seed, so a failure means a wrong mean or
    /// a biased sampler, not bad luck. One extra microsecond covers per-sample rounding to the
    /// engine clock (bias at most half a microsecond), which matters only for the constant.
    #[test]
    fn sample_mean_matches_mean_secs() {
        const N: usize = 200_000;
        for (i, (name, d)) in examples().into_iter().enumerate() {
            d.validate().unwrap();
            let xs = samples_secs(&d, N, 1000 + i as u64);
            let mean = xs.iter().sum::<f64>() / N as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (N - 1) as f64;
            let tol = 5.0 * (var / N as f64).sqrt() + 1e-6;
            let expected = d.mean_secs();
            assert!((mean - expected).abs() <= tol, "{name}: sample mean {mean} vs mean_secs {expected} (tolerance {tol})");
        }
    }

    #[test]
    fn closed_form_means() {
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // Half-normal: sd * sqrt(2 / pi).
        let half = Dist::Normal { mean: SimDuration::ZERO, std_dev: MS(10) };
        assert!(close(half.mean_secs(), 0.010 * (2.0 / std::f64::consts::PI).sqrt()));
        // Zero spread: the mean itself.
        let flat = Dist::Normal { mean: MS(10), std_dev: SimDuration::ZERO };
        assert!(close(flat.mean_secs(), 0.010));
        // Lognormal: exp(mu + sigma^2 / 2).
        let ln = Dist::Lognormal { mu: -3.0, sigma: 1.0 };
        assert!(close(ln.mean_secs(), (-2.5f64).exp()));
        // Empirical: uniform 0..1s written as a table has mean 0.5s.
        let emp = Dist::Empirical { points: vec![(0.0, SimDuration::ZERO), (1.0, MS(1000))] };
        assert!(close(emp.mean_secs(), 0.5));
    }

    #[test]
    fn erfc_matches_reference_values() {
        // Reference values from Abramowitz & Stegun / high-precision tables.
        for (x, want) in
            [(0.0, 1.0), (0.5, 0.479_500_122_186_953_5), (1.0, 0.157_299_207_050_285_1), (2.0, 0.004_677_734_981_047_266), (-1.0, 1.842_700_792_949_715)]
        {
            let got = erfc(x);
            assert!(((got - want) / want).abs() < 1.2e-7, "erfc({x}) = {got}, want {want}");
        }
        assert!((std_normal_cdf(1.959_963_985) - 0.975).abs() < 1e-7);
    }

    /// Kolmogorov–Smirnov test of the exponential against 1 - exp(-x / mean).
    ///
    /// Critical value at alpha = 0.001: sqrt(-ln(alpha / 2) / 2) / sqrt(n) = 1.9495 / sqrt(n),
    /// i.e. 0.00436 for n = 200 000. Rounding samples to whole microseconds moves the empirical
    /// CDF by at most the density times half a microsecond, 1e-5 for a 50ms mean, far inside it.
    #[test]
    fn exponential_passes_kolmogorov_smirnov() {
        const N: usize = 200_000;
        let mean = 0.050;
        let mut xs = samples_secs(&Dist::exponential(MS(50)), N, 7);
        xs.sort_by(f64::total_cmp);
        let d = xs
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let f = 1.0 - (-x / mean).exp();
                let above = (i + 1) as f64 / N as f64 - f;
                let below = f - i as f64 / N as f64;
                above.max(below)
            })
            .fold(0.0, f64::max);
        let critical = 1.9495 / (N as f64).sqrt();
        assert!(d < critical, "KS statistic {d} >= critical {critical}");
    }

    /// A lognormal given by median/p99 must reproduce them.
    ///
    /// Tolerance, in ln space: the sample p-quantile of ln X ~ N(mu, sigma^2) has standard error
    /// sqrt(p (1 - p) / n) * sigma / phi(z_p). We allow 5 of those (false failure < 1e-6): about
    /// 1.4% relative at the median and 4.1% at p99 for n = 200 000.
    #[test]
    fn lognormal_median_p99_recovers_quantiles() {
        const N: usize = 200_000;
        let d = parse(r#"{ dist = "lognormal", median = "20ms", p99 = "200ms" }"#).unwrap();
        let Dist::Lognormal { sigma, .. } = d else { panic!("expected a lognormal, got {d:?}") };
        let mut xs = samples_secs(&d, N, 11);
        xs.sort_by(f64::total_cmp);
        for (p, z, want) in [(0.5, 0.0, 0.020), (0.99, Z_P99, 0.200)] {
            let got = xs[(p * N as f64) as usize];
            let tol = 5.0 * (p * (1.0 - p) / N as f64).sqrt() * sigma / std_normal_pdf(z);
            assert!((got / want).ln().abs() <= tol, "p{}: sample {got}s vs {want}s (ln tolerance {tol})", p * 100.0);
        }
    }

    #[test]
    fn uniform_stays_inside_bounds_and_reaches_both_ends() {
        let d = Dist::Uniform { low: MS(10), high: MS(30) };
        let mut r = rng(3);
        let xs: Vec<SimDuration> = (0..200_000).map(|_| d.sample(&mut r)).collect();
        let (lo, hi) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
        assert!(lo >= MS(10) && hi <= MS(30), "range {lo}..{hi}");
        // 200 000 draws over 20 001 values: missing the outer 100us has probability ~e^-1000.
        assert!(lo < SimDuration::from_micros(10_100) && hi > SimDuration::from_micros(29_900));
    }

    /// `SimDuration` cannot be negative, so the real risk is clamping: that would put half of a
    /// zero-mean normal's samples exactly at zero. Truncation by rejection puts only
    /// P(0 <= X < 0.5us) ~ 4e-5 there.
    #[test]
    fn truncated_normal_rejects_rather_than_clamps() {
        let d = Dist::Normal { mean: SimDuration::ZERO, std_dev: MS(10) };
        let mut r = rng(5);
        let n = 100_000;
        let zeros = (0..n).filter(|_| d.sample(&mut r).is_zero()).count();
        assert!(zeros < n / 1000, "{zeros} zero samples out of {n}");
    }

    #[test]
    fn empirical_stays_within_table_and_hits_quantiles() {
        let d = parse(r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [0.5, "20ms"], [0.99, "200ms"], [1.0, "1s"]] }"#).unwrap();
        let mut xs = samples_secs(&d, 100_000, 13);
        xs.sort_by(f64::total_cmp);
        assert!(xs[0] >= 0.005 && xs[xs.len() - 1] <= 1.0);
        // Binomial sd of the fraction below the median is 0.0016; allow 5 of them.
        let below = xs.iter().filter(|&&x| x <= 0.020).count() as f64 / xs.len() as f64;
        assert!((below - 0.5).abs() < 0.008, "fraction below 20ms: {below}");
    }

    #[test]
    fn sampling_is_deterministic_for_a_seed() {
        for (name, d) in examples() {
            assert_eq!(samples_secs(&d, 100, 9), samples_secs(&d, 100, 9), "{name}");
        }
    }

    #[test]
    fn scaled_multiplies_every_duration() {
        for (name, d) in examples() {
            let s = d.scaled(3.0);
            s.validate().unwrap();
            let (a, b) = (d.mean_secs() * 3.0, s.mean_secs());
            assert!((a - b).abs() <= 1e-6 * a.max(1.0), "{name}: {a} vs {b}");
        }
        assert_eq!(Dist::constant(MS(20)).scaled(2.5), Dist::constant(MS(50)));
        let slow = Dist::Lognormal { mu: -3.9, sigma: 0.9 }.scaled(2.0);
        match slow {
            Dist::Lognormal { mu, sigma } => {
                assert!((mu - (-3.9 + 2f64.ln())).abs() < 1e-12 && sigma == 0.9)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    #[should_panic(expected = "finite and positive")]
    fn scaled_rejects_nonpositive_factor() {
        Dist::constant(MS(1)).scaled(0.0);
    }

    #[test]
    fn deserializes_every_form() {
        let cases: Vec<(&str, Dist)> = vec![
            (r#""20ms""#, Dist::constant(MS(20))),
            ("0", Dist::constant(SimDuration::ZERO)),
            (r#"{ dist = "constant", value = "20ms" }"#, Dist::constant(MS(20))),
            (r#"{ dist = "uniform", low = "10ms", high = "30ms" }"#, Dist::Uniform { low: MS(10), high: MS(30) }),
            (r#"{ dist = "exponential", mean = "50ms" }"#, Dist::exponential(MS(50))),
            (r#"{ dist = "normal", mean = "50ms", std_dev = "10ms" }"#, Dist::Normal { mean: MS(50), std_dev: MS(10) }),
            (r#"{ dist = "lognormal", median = "20ms", p99 = "200ms" }"#, Dist::Lognormal { mu: 0.02f64.ln(), sigma: 10f64.ln() / Z_P99 }),
            (r#"{ dist = "lognormal", mu = -3.9, sigma = 0.9 }"#, Dist::Lognormal { mu: -3.9, sigma: 0.9 }),
            (
                // Integers where floats are expected are fine.
                r#"{ dist = "lognormal", mu = -3, sigma = 1 }"#,
                Dist::Lognormal { mu: -3.0, sigma: 1.0 },
            ),
            (
                r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [0.5, "20ms"], [0.99, "200ms"], [1.0, "1s"]] }"#,
                Dist::Empirical { points: vec![(0.0, MS(5)), (0.5, MS(20)), (0.99, MS(200)), (1.0, MS(1000))] },
            ),
            (
                r#"{ dist = "mixture", parts = [ { weight = 0.99, dist = "20ms" }, { weight = 0.01, dist = { dist = "constant", value = "1s" } } ] }"#,
                Dist::Mixture { parts: vec![(0.99, Dist::constant(MS(20))), (0.01, Dist::constant(MS(1000)))] },
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            match (&got, &want) {
                (Dist::Lognormal { mu: a, sigma: b }, Dist::Lognormal { mu: c, sigma: d }) => {
                    assert!((a - c).abs() < 1e-12 && (b - d).abs() < 1e-12, "{text}: {got:?}")
                }
                _ => assert_eq!(got, want, "{text}"),
            }
        }
    }

    #[test]
    fn deserializes_from_a_toml_table() {
        let w: Wrapper = toml::from_str(
            "[latency]\ndist = \"mixture\"\n\n[[latency.parts]]\nweight = 3\ndist = \"10ms\"\n\n\
             [[latency.parts]]\nweight = 1\ndist = { dist = \"exponential\", mean = \"1s\" }\n",
        )
        .unwrap();
        // Weights are normalised on the way in.
        assert_eq!(w.latency, Dist::Mixture { parts: vec![(0.75, Dist::constant(MS(10))), (0.25, Dist::exponential(MS(1000)))] });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        for text in [
            r#"{ dist = "exponential", mean = "50ms", mena = "1s" }"#,
            r#"{ dist = "constant", value = "1s", std_dev = "1ms" }"#,
            r#"{ dist = "lognormal", median = "20ms", p99 = "200ms", p50 = "20ms" }"#,
            r#"{ dist = "mixture", parts = [ { weight = 1.0, dist = "20ms", label = "x" } ] }"#,
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("unknown field"), "{text}: {err}");
        }
        let err = parse(r#"{ dist = "gamma", shape = 2.0 }"#).unwrap_err();
        assert!(err.contains("unknown variant"), "{err}");
        let err = parse(r#"{ mean = "50ms" }"#).unwrap_err();
        assert!(err.contains("dist"), "{err}");
    }

    /// Every rejection, through the parser (so it happens at parse time) and with the word that
    /// tells the user what to fix.
    #[test]
    fn invalid_specs_fail_at_parse_time_with_useful_messages() {
        let cases = [
            (r#"{ dist = "uniform", low = "30ms", high = "10ms" }"#, "swap"),
            (r#"{ dist = "exponential", mean = "-5ms" }"#, "negative"),
            (r#"{ dist = "normal", mean = "50ms", std_dev = 10 }"#, "unit"),
            (r#"{ dist = "lognormal", median = "200ms", p99 = "20ms" }"#, "swapped"),
            (r#"{ dist = "lognormal", median = "0", p99 = "20ms" }"#, "positive"),
            (r#"{ dist = "lognormal", mu = nan, sigma = 0.9 }"#, "finite"),
            (r#"{ dist = "lognormal", mu = -3.9, sigma = -0.9 }"#, "non-negative"),
            (r#"{ dist = "lognormal", mu = -3.9, sigma = inf }"#, "sigma"),
            (r#"{ dist = "lognormal", median = "20ms", sigma = 0.9 }"#, "either"),
            (r#"{ dist = "lognormal", mu = -3.9 }"#, "either"),
            (r#"{ dist = "empirical", quantiles = [] }"#, "at least two"),
            (r#"{ dist = "empirical", quantiles = [[0.1, "5ms"], [1.0, "1s"]] }"#, "first"),
            (r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [0.9, "1s"]] }"#, "last"),
            (r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [0.5, "6ms"], [0.5, "7ms"], [1.0, "1s"]] }"#, "strictly increasing"),
            (r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [0.5, "50ms"], [1.0, "20ms"]] }"#, "non-decreasing"),
            (r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [99, "1s"]] }"#, "outside"),
            (r#"{ dist = "empirical", quantiles = [[0.0, "5ms"], [nan, "1s"]] }"#, "outside"),
            (r#"{ dist = "mixture", parts = [] }"#, "at least one part"),
            (r#"{ dist = "mixture", parts = [ { weight = 0.0, dist = "1s" } ] }"#, "positive"),
            (r#"{ dist = "mixture", parts = [ { weight = -1.0, dist = "1s" } ] }"#, "positive"),
            (r#"{ dist = "mixture", parts = [ { weight = inf, dist = "1s" } ] }"#, "finite"),
            (
                r#"{ dist = "mixture", parts = [ { weight = 0.5, dist = "1s" }, { weight = 0.5, dist = { dist = "uniform", low = "2s", high = "1s" } } ] }"#,
                "mixture: part 1: uniform: low",
            ),
            (r#"{ dist = "mixture", parts = [ { weight = 1.0, dist = "constant", value = "1s" } ] }"#, "distribution name"),
            (r#""20""#, "unit"),
        ];
        for (text, word) in cases {
            match parse(text) {
                Ok(d) => panic!("{text} parsed as {d:?}"),
                Err(e) => assert!(e.contains(word), "{text}: error lacks `{word}`: {e}"),
            }
        }
    }

    #[test]
    fn validate_catches_hand_built_values() {
        assert!(Dist::Uniform { low: MS(2), high: MS(1) }.validate().unwrap_err().contains("low"));
        let unnormalised = Dist::Mixture { parts: vec![(1.0, Dist::constant(MS(1))), (3.0, Dist::constant(MS(2)))] };
        assert!(unnormalised.validate().unwrap_err().contains("sum to 1"));
        let fixed = Dist::mixture(vec![(1.0, Dist::constant(MS(1))), (3.0, Dist::constant(MS(2)))]);
        assert_eq!(fixed.unwrap(), Dist::Mixture { parts: vec![(0.25, Dist::constant(MS(1))), (0.75, Dist::constant(MS(2)))] });
        assert!(Dist::Empirical { points: vec![(0.0, MS(1))] }.validate().unwrap_err().contains("at least two"));
    }

    #[test]
    fn serialization_round_trips() {
        for (name, d) in examples() {
            let w = Wrapper { latency: d };
            let text = toml::to_string(&w).unwrap_or_else(|e| panic!("{name}: {e}"));
            let back: Wrapper = toml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
            assert_eq!(back, w, "{name}:\n{text}");
        }
        // The shapes are the documented ones.
        let to_toml = |d: Dist| toml::to_string(&Wrapper { latency: d }).unwrap();
        assert_eq!(to_toml(Dist::constant(MS(20))).trim(), r#"latency = "20ms""#);
        let text = to_toml(Dist::exponential(MS(50)));
        assert!(text.contains(r#"dist = "exponential""#) && text.contains(r#"mean = "50ms""#));
    }
}
