//! The statistics a sweep reports per point: the mean of a metric over replications with a
//! Student-t confidence interval, and the probability of a bad event with a Wilson score interval.
//!
//! Both are 95 % two-sided intervals. The t quantile is computed from the regularized incomplete
//! beta function (Numerical Recipes, 3rd ed., s6.4), not looked up in a table, so any number of
//! replications works; the tests pin it against textbook values.

/// z for a two-sided 95 % interval: the 0.975 quantile of the standard normal.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Mean and 95 % confidence interval of a sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// `None` with fewer than two values (no spread to estimate).
    pub ci: Option<(f64, f64)>,
}

/// Mean and Student-t 95 % interval `mean +- t(0.975, n-1) * s / sqrt(n)`, or `None` for an empty
/// sample. Values are summed in the order given, so the result is reproducible bit for bit.
pub fn mean_ci95(xs: &[f64], t_cache: &mut TCache) -> Option<MeanCi> {
    let n = xs.len();
    if n == 0 {
        return None;
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Some(MeanCi { n, mean, ci: None });
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    let half = t_cache.t975(n - 1) * (var / n as f64).sqrt();
    Some(MeanCi { n, mean, ci: Some((mean - half, mean + half)) })
}

/// Memoizes `t(0.975, df)`: a sweep asks for the same few degrees of freedom for every point.
#[derive(Default)]
pub struct TCache(std::collections::BTreeMap<usize, f64>);

impl TCache {
    pub fn t975(&mut self, df: usize) -> f64 {
        *self.0.entry(df).or_insert_with(|| student_t_quantile(0.975, df as f64))
    }
}

/// A proportion `k / n` with its 95 % Wilson score interval (Wilson 1927; recommended over the
/// normal "Wald" interval by Newcombe 1998 and Brown, Cai & DasGupta 2001 because it stays inside
/// [0, 1] and does not collapse to zero width when k = 0, which is the usual case for a bad
/// event that a good configuration avoids).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proportion {
    pub k: u64,
    pub n: u64,
    pub p: f64,
    pub low: f64,
    pub high: f64,
}

pub fn wilson95(k: u64, n: u64) -> Proportion {
    if n == 0 {
        return Proportion { k, n, p: f64::NAN, low: 0.0, high: 1.0 };
    }
    let nf = n as f64;
    let p = k as f64 / nf;
    let z2 = Z_95 * Z_95;
    let denom = 1.0 + z2 / nf;
    let centre = (p + z2 / (2.0 * nf)) / denom;
    let half = Z_95 / denom * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // In exact arithmetic k = 0 gives a lower bound of 0 and k = n an upper bound of 1; say so
    // rather than report rounding error.
    let low = if k == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if k == n { 1.0 } else { (centre + half).min(1.0) };
    Proportion { k, n, p, low, high }
}

/// The `p` quantile of Student's t distribution with `df` degrees of freedom (p in (0, 1)).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0 && df > 0.0, "t quantile of p = {p}, df = {df}");
    if p < 0.5 {
        return -student_t_quantile(1.0 - p, df);
    }
    if p == 0.5 {
        return 0.0;
    }
    let mut hi = 1.0;
    while student_t_cdf(hi, df) < p {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    // Bisection: 200 halvings exhaust f64 precision on any bracket found above.
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// P(T <= t) for Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    let tail = 0.5 * regularized_incomplete_beta(0.5 * df, 0.5, x);
    if t >= 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// I_x(a, b), by the continued fraction of Numerical Recipes s6.4.
fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b
    }
}

fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let fix = |v: f64| if v.abs() < TINY { TINY } else { v };
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 / fix(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=1000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / fix(1.0 + aa * d);
        c = fix(1.0 + aa / c);
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// ln Gamma(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error ~1e-15).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut s = C[0];
    for (i, c) in C.iter().enumerate().skip(1) {
        s += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + s.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Two-sided 95 % critical values of Student's t (any statistics textbook's table, e.g.
    /// Montgomery & Runger, Applied Statistics, Table V).
    #[test]
    fn t_quantiles_match_the_table() {
        for (df, t) in [(1.0, 12.706_204_7), (2.0, 4.302_652_7), (4.0, 2.776_445_1), (9.0, 2.262_157_2), (29.0, 2.045_229_6), (120.0, 1.979_930_4)] {
            let q = student_t_quantile(0.975, df);
            assert!(close(q, t, 1e-6), "df {df}: {q} vs {t}");
        }
        assert!(close(student_t_quantile(0.995, 10.0), 3.169_272_7, 1e-6));
        assert!(close(student_t_quantile(0.025, 4.0), -2.776_445_1, 1e-6));
        // Large df tends to the normal quantile.
        assert!(close(student_t_quantile(0.975, 1e7), Z_95, 1e-5));
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!(close(ln_gamma(1.0), 0.0, 1e-13));
        assert!(close(ln_gamma(5.0), 24f64.ln(), 1e-12));
        assert!(close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-12));
    }

    /// 1..=5: mean 3, s = sqrt(2.5), t(0.975, 4) = 2.7764451, half width 1.9632432.
    #[test]
    fn mean_ci_of_a_known_sample() {
        let mut tc = TCache::default();
        let m = mean_ci95(&[1.0, 2.0, 3.0, 4.0, 5.0], &mut tc).unwrap();
        assert_eq!(m.mean, 3.0);
        let (lo, hi) = m.ci.unwrap();
        assert!(close(lo, 3.0 - 1.963_243_2, 1e-6) && close(hi, 3.0 + 1.963_243_2, 1e-6), "{lo} {hi}");
        assert_eq!(mean_ci95(&[4.0], &mut tc).unwrap().ci, None);
        assert!(mean_ci95(&[], &mut tc).is_none());
        // No spread: a zero-width interval, not NaN.
        assert_eq!(mean_ci95(&[2.0, 2.0, 2.0], &mut tc).unwrap().ci, Some((2.0, 2.0)));
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
    /// method 3 (Wilson score without continuity correction).
    #[test]
    fn wilson_matches_newcombe_1998() {
        for (k, n, lo, hi) in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)] {
            let w = wilson95(k, n);
            assert!(close(w.low, lo, 6e-5) && close(w.high, hi, 6e-5), "{k}/{n}: {} {}", w.low, w.high);
        }
        // k = 0: upper bound z^2 / (n + z^2) exactly.
        let w = wilson95(0, 10);
        assert_eq!(w.low, 0.0);
        assert!(close(w.high, Z_95 * Z_95 / (10.0 + Z_95 * Z_95), 1e-15));
        let w = wilson95(10, 10);
        assert_eq!(w.high, 1.0);
    }
}
