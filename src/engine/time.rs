//! Simulated time: integer microseconds since the start of the run.
//!
//! Integer time keeps runs byte-identical across machines: no float rounding ever decides which of
//! two events happens first. One microsecond resolves every latency the models care about and a
//! `u64` still covers more than 500 000 years.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A point in simulated time, in microseconds since the run started.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

/// A span of simulated time, in microseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(pub u64);

pub const MICROS_PER_SECOND: u64 = 1_000_000;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SECOND as f64
    }
    pub fn micros(self) -> u64 {
        self.0
    }
    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us)
    }
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000)
    }
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * MICROS_PER_SECOND)
    }
    /// Converts seconds to a duration, rounding to the nearest microsecond. Negative and NaN
    /// inputs become zero; callers validate their parameters before sampling, so this is only
    /// a guard against the tails of unbounded distributions.
    pub fn from_secs_f64(s: f64) -> Self {
        if !(s > 0.0) {
            return SimDuration(0);
        }
        let us = (s * MICROS_PER_SECOND as f64).round();
        if us >= u64::MAX as f64 {
            SimDuration(u64::MAX / 4)
        } else {
            SimDuration(us as u64)
        }
    }
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MICROS_PER_SECOND as f64
    }
    pub fn micros(self) -> u64 {
        self.0
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
    pub fn mul_f64(self, k: f64) -> Self {
        SimDuration::from_secs_f64(self.as_secs_f64() * k)
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        self.0 = self.0.saturating_add(d.0);
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}
impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, o: SimTime) -> SimDuration {
        self.since(o)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.as_secs_f64())
    }
}
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us % MICROS_PER_SECOND == 0 {
            write!(f, "{}s", us / MICROS_PER_SECOND)
        } else if us % 1_000 == 0 {
            write!(f, "{}ms", us / 1_000)
        } else {
            write!(f, "{}us", us)
        }
    }
}

/// Parses a human duration: `"250ms"`, `"30s"`, `"1.5s"`, `"2m"`, `"1h"`, `"100us"`, `"0"`.
/// A bare number is rejected (except `0`) so that a unit is never guessed.
pub fn parse_duration(text: &str) -> Result<SimDuration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err(format!("`{t}` is negative; durations cannot be negative (write e.g. \"30s\")"));
    }
    if t == "0" {
        return Ok(SimDuration::ZERO);
    }
    let split =
        t.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_')).ok_or_else(|| format!("`{t}` has no unit; write e.g. \"30s\", \"250ms\", \"2m\""))?;
    let (num, unit) = t.split_at(split);
    let num = num.replace('_', "");
    let value: f64 = num.parse().map_err(|_| format!("`{t}` does not start with a number; write e.g. \"30s\""))?;
    let scale = match unit.trim() {
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => return Err(format!("unknown unit `{other}` in `{t}`; expected one of us, ms, s, m, h, d")),
    };
    if !value.is_finite() || value < 0.0 {
        return Err(format!("`{t}` must be a finite, non-negative duration"));
    }
    Ok(SimDuration::from_secs_f64(value * scale))
}

impl<'de> Deserialize<'de> for SimDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = SimDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"250ms\" or \"2m\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SimDuration, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<SimDuration, E> {
                if v == 0 {
                    Ok(SimDuration::ZERO)
                } else {
                    Err(E::custom(format!("a bare number ({v}) is not a duration; add a unit, e.g. \"{v}s\" or \"{v}ms\"")))
                }
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<SimDuration, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<SimDuration, E> {
                Err(E::custom(format!("a bare number ({v}) is not a duration; add a unit, e.g. \"{v}s\"")))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for SimDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("250ms").unwrap(), SimDuration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), SimDuration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), SimDuration::from_secs(120));
        assert_eq!(parse_duration("100us").unwrap(), SimDuration::from_micros(100));
        assert_eq!(parse_duration("0").unwrap(), SimDuration::ZERO);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("3 parsecs").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["30s", "250ms", "17us"] {
            assert_eq!(parse_duration(s).unwrap().to_string(), s);
        }
    }
}
