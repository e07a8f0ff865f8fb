//! Closed-form queueing results used to check the simulator.
//!
//! Everything is plain `f64`. Rates are per second, times are in seconds and
//! lengths are numbers of customers (requests). Functions that can be handed
//! invalid or unstable parameters return `Option`, and `None` means "no
//! steady state, or the inputs make no sense". Nothing in this module panics.
//!
//! Notation (Kendall): arrival rate `lambda`, service rate per server `mu`,
//! `c` servers, offered load `a = lambda / mu` (Erlangs), per-server
//! utilisation `rho = a / c`.
//!
//! References:
//! * L. Kleinrock, *Queueing Systems, Volume 1: Theory*, Wiley 1975. Chapter 3,
//!   "Birth-Death Queueing Systems in Equilibrium" (M/M/1, M/M/m, M/M/1/K,
//!   M/M/m/m Erlang loss), and chapter 5, "The Queue M/G/1"
//!   (Pollaczek–Khinchine mean-value formula).
//! * D. Gross & C. M. Harris, *Fundamentals of Queueing Theory*, Wiley. The
//!   chapter "Simple Markovian Queueing Models" (M/M/1, M/M/c, M/M/c/K,
//!   Erlang's loss formula) and the M/G/1 section of the chapter on general
//!   arrival or service patterns.

/// True if `x` is finite and strictly positive.
fn positive_finite(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Erlang's loss formula (Erlang B): the probability that an arrival to an
/// M/M/c/c system (c servers, no waiting room) finds every server busy and is
/// lost.
///
/// ```text
///             a^c / c!
/// B(c, a) = -------------------
///           sum_{k=0}^{c} a^k / k!
/// ```
///
/// It is computed with the stable recursion
/// `B(0, a) = 1`, `B(k, a) = a B(k-1, a) / (k + a B(k-1, a))`,
/// which avoids factorials and large powers and works for any `c`.
///
/// `offered_load_erlangs` is `a = lambda / mu`. Returns `NaN` if `a` is
/// negative or NaN, and `1.0` if `a` is `+inf`.
///
/// Sources: Kleinrock Vol. 1, §3.7 (M/M/m/m, "Erlang's loss formula");
/// Gross & Harris, "Simple Markovian Queueing Models" (Erlang's loss formula).
pub fn erlang_b(c: u32, offered_load_erlangs: f64) -> f64 {
    let a = offered_load_erlangs;
    if a.is_nan() || a < 0.0 {
        return f64::NAN;
    }
    if a == f64::INFINITY {
        return 1.0;
    }
    let mut b = 1.0_f64;
    for k in 1..=c {
        let ab = a * b;
        b = ab / (f64::from(k) + ab);
    }
    b
}

/// Erlang's delay formula (Erlang C): the probability that an arrival to an
/// M/M/c queue (infinite waiting room) has to wait.
///
/// ```text
/// C(c, a) = B(c, a) / (1 - rho (1 - B(c, a))),   rho = a / c
/// ```
///
/// which is algebraically equal to the textbook form
/// `[a^c / (c! (1 - rho))] / [sum_{k<c} a^k/k! + a^c / (c! (1 - rho))]`
/// but inherits the numerical stability of the Erlang B recursion.
///
/// Returns `None` unless `c >= 1` and `0 <= a < c` (the queue is unstable
/// for `a >= c`). `C(c, 0) = 0`.
///
/// Sources: Kleinrock Vol. 1, §3.5 (M/M/m, "Erlang's C formula");
/// Gross & Harris, "Simple Markovian Queueing Models" (M/M/c).
pub fn erlang_c(c: u32, a: f64) -> Option<f64> {
    if c == 0 || !a.is_finite() || a < 0.0 || a >= f64::from(c) {
        return None;
    }
    let b = erlang_b(c, a);
    let rho = a / f64::from(c);
    Some(b / (1.0 - rho * (1.0 - b)))
}

/// Steady-state means of an infinite-capacity queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueMetrics {
    /// Per-server utilisation `rho = lambda / (c mu)` (fraction of time a
    /// given server is busy).
    pub utilization: f64,
    /// Probability that an arrival has to wait before service starts
    /// (`rho` for M/M/1 and M/G/1, Erlang C for M/M/c).
    pub prob_wait: f64,
    /// Mean time in queue before service starts, `Wq`, in seconds.
    pub mean_wait: f64,
    /// Mean time in system (wait + service), `W = Wq + E[S]`, in seconds.
    pub mean_response: f64,
    /// Mean number waiting in the queue, **excluding** those in service,
    /// `Lq = lambda Wq` (Little's law). See [`QueueMetrics::mean_in_system`]
    /// for `L`.
    pub mean_queue_len: f64,
}

impl QueueMetrics {
    /// Mean number in system (waiting + in service), `L = lambda W`
    /// (Little's law), for the arrival rate `lambda` the metrics were
    /// computed with.
    pub fn mean_in_system(&self, lambda: f64) -> f64 {
        lambda * self.mean_response
    }
}

/// M/M/1: Poisson arrivals at rate `lambda`, one exponential server at rate
/// `mu`.
///
/// ```text
/// rho = lambda / mu,  P(wait) = rho,
/// Wq = rho / (mu - lambda),  W = 1 / (mu - lambda),
/// Lq = rho^2 / (1 - rho),    L = rho / (1 - rho)
/// ```
///
/// Returns `None` unless `lambda > 0`, `mu > 0` (both finite) and
/// `rho < 1`.
///
/// Sources: Kleinrock Vol. 1, §3.2; Gross & Harris, "Simple Markovian
/// Queueing Models" (M/M/1).
pub fn mm1(lambda: f64, mu: f64) -> Option<QueueMetrics> {
    if !positive_finite(lambda) || !positive_finite(mu) || lambda >= mu {
        return None;
    }
    let rho = lambda / mu;
    let mean_response = 1.0 / (mu - lambda);
    let mean_wait = rho / (mu - lambda);
    Some(QueueMetrics { utilization: rho, prob_wait: rho, mean_wait, mean_response, mean_queue_len: rho * rho / (1.0 - rho) })
}

/// M/M/c: Poisson arrivals at rate `lambda`, `c` exponential servers each at
/// rate `mu`, unlimited waiting room.
///
/// ```text
/// a = lambda / mu,  rho = a / c,  P(wait) = C(c, a)  (Erlang C)
/// Wq = C(c, a) / (c mu - lambda),  W = Wq + 1/mu,  Lq = lambda Wq
/// ```
///
/// Returns `None` unless `c >= 1`, `lambda > 0`, `mu > 0` (finite) and
/// `lambda < c mu`.
///
/// Sources: Kleinrock Vol. 1, §3.5; Gross & Harris, "Simple Markovian
/// Queueing Models" (M/M/c).
pub fn mmc(lambda: f64, mu: f64, c: u32) -> Option<QueueMetrics> {
    if c == 0 || !positive_finite(lambda) || !positive_finite(mu) {
        return None;
    }
    let cf = f64::from(c);
    let a = lambda / mu;
    let prob_wait = erlang_c(c, a)?;
    let mean_wait = prob_wait / (cf * mu - lambda);
    Some(QueueMetrics { utilization: a / cf, prob_wait, mean_wait, mean_response: mean_wait + 1.0 / mu, mean_queue_len: lambda * mean_wait })
}

/// M/G/1: Poisson arrivals at rate `lambda`, one server with a general
/// service-time distribution with mean `E[S] = mean_service` and second
/// moment `E[S^2] = second_moment_service` (`= Var[S] + E[S]^2`).
///
/// Pollaczek–Khinchine mean-value formula:
///
/// ```text
/// rho = lambda E[S],  P(wait) = rho (PASTA: server busy),
/// Wq = lambda E[S^2] / (2 (1 - rho)),  W = Wq + E[S],  Lq = lambda Wq
/// ```
///
/// Returns `None` unless `lambda > 0`, `E[S] > 0`, `E[S^2]` finite with
/// `E[S^2] >= E[S]^2` (up to a relative rounding slack of 1e-9), and
/// `rho < 1`.
///
/// Sources: Kleinrock Vol. 1, chapter 5 (the P-K mean-value formula);
/// Gross & Harris, M/G/1 section.
pub fn mg1(lambda: f64, mean_service: f64, second_moment_service: f64) -> Option<QueueMetrics> {
    if !positive_finite(lambda) || !positive_finite(mean_service) || !second_moment_service.is_finite() {
        return None;
    }
    let es = mean_service;
    let es2 = second_moment_service;
    // Variance must be non-negative; allow for rounding in callers' arithmetic.
    if es2 < es * es * (1.0 - 1e-9) {
        return None;
    }
    let rho = lambda * es;
    if rho >= 1.0 {
        return None;
    }
    let mean_wait = lambda * es2 / (2.0 * (1.0 - rho));
    Some(QueueMetrics { utilization: rho, prob_wait: rho, mean_wait, mean_response: mean_wait + es, mean_queue_len: lambda * mean_wait })
}

/// M/D/1: Poisson arrivals at rate `lambda`, one server with constant
/// service time `service` seconds. This is [`mg1`] with `E[S^2] = s^2`, so
///
/// ```text
/// Wq = rho s / (2 (1 - rho))
/// ```
///
/// exactly half the M/M/1 wait at the same utilisation.
///
/// Sources: Kleinrock Vol. 1, chapter 5 (M/D/1 as a special case of P-K);
/// Gross & Harris, M/G/1 section.
pub fn md1(lambda: f64, service: f64) -> Option<QueueMetrics> {
    mg1(lambda, service, service * service)
}

/// Steady-state metrics of a finite-capacity M/M/c/K queue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FiniteQueueMetrics {
    /// Probability an arrival finds the system full and is rejected, `p_K`
    /// (PASTA).
    pub blocking_prob: f64,
    /// Per-server utilisation: mean number of busy servers divided by `c`,
    /// equal to `lambda_eff / (c mu)`.
    pub utilization: f64,
    /// Mean number in system (waiting + in service), `L = sum n p_n`.
    pub mean_in_system: f64,
    /// Mean time in system of an *admitted* request, `W = L / lambda_eff`.
    pub mean_response: f64,
    /// Mean time waiting before service of an admitted request,
    /// `Wq = Lq / lambda_eff` with `Lq = sum_{n>c} (n - c) p_n`.
    pub mean_wait: f64,
    /// Rate of admitted (and, in steady state, completed) requests,
    /// `lambda_eff = lambda (1 - p_K)`.
    pub throughput: f64,
}

/// Stationary distribution `p_0 ..= p_K` of the M/M/c/K birth-death chain
/// (arrival rate `lambda`, `c` servers at rate `mu`, at most `k_total` in
/// system).
///
/// ```text
/// p_n = p_0 a^n / n!                 for 0 <= n <= c
/// p_n = p_0 a^n / (c! c^(n-c))       for c < n <= K
/// ```
///
/// The unnormalised weights are built from the ratios
/// `p_n / p_{n-1} = lambda / (min(n, c) mu)`, which are non-increasing in `n`,
/// so the weights are unimodal. They are anchored at the mode (weight 1)
/// and propagated outward, so every weight is in `[0, 1]`: nothing overflows,
/// and the tiny tail weights that underflow are negligible. This works for
/// `c` in the hundreds and `K` in the tens of thousands.
///
/// Returns `None` unless `c >= 1`, `k_total >= c`, and `lambda`, `mu` are
/// finite and strictly positive.
///
/// Sources: Kleinrock Vol. 1, §3.1 (general birth-death solution) and §3.6;
/// Gross & Harris, "Simple Markovian Queueing Models" (M/M/c/K).
pub fn mmck_probabilities(lambda: f64, mu: f64, c: u32, k_total: u32) -> Option<Vec<f64>> {
    if c == 0 || k_total < c || !positive_finite(lambda) || !positive_finite(mu) {
        return None;
    }
    let k = k_total as usize;
    let cu = c as usize;
    // ratio(n) = p_n / p_{n-1}, for n >= 1.
    let ratio = |n: usize| lambda / (n.min(cu) as f64 * mu);

    // The mode is the last n with ratio(n) >= 1 (0 if ratio(1) < 1).
    // Ratios are non-increasing, so find it by scanning up to c and then
    // using ratio(c) for everything beyond.
    let mode = {
        let mut m = 0usize;
        while m < k && ratio(m + 1) >= 1.0 {
            m += 1;
            if m >= cu {
                // Beyond c the ratio is constant: either it stays >= 1 all
                // the way to K, or it is < 1 from here on.
                if ratio(cu) >= 1.0 {
                    m = k;
                }
                break;
            }
        }
        m
    };

    let mut w = vec![0.0_f64; k + 1];
    w[mode] = 1.0;
    for n in (1..=mode).rev() {
        w[n - 1] = w[n] / ratio(n);
    }
    for n in mode + 1..=k {
        w[n] = w[n - 1] * ratio(n);
    }
    let total: f64 = w.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return None;
    }
    for x in &mut w {
        *x /= total;
    }
    Some(w)
}

/// M/M/c/K: Poisson arrivals at rate `lambda`, `c` exponential servers at
/// rate `mu`, and at most `k_total` requests in the system (`c` in service
/// plus `k_total - c` waiting). Arrivals finding `k_total` present are
/// rejected. Stable for any load.
///
/// With `p_n` from [`mmck_probabilities`]:
///
/// ```text
/// blocking   = p_K
/// lambda_eff = lambda (1 - p_K)         (computed as lambda sum_{n<K} p_n)
/// L  = sum n p_n,   Lq = sum_{n>c} (n - c) p_n
/// W  = L / lambda_eff,  Wq = Lq / lambda_eff   (Little's law; W = Wq + 1/mu)
/// utilisation = lambda_eff / (c mu)
/// ```
///
/// Special cases: `k_total == c` is the Erlang loss system, so
/// `blocking == erlang_b(c, lambda/mu)`; as `k_total -> inf` with
/// `lambda < c mu` the metrics converge to [`mmc`].
///
/// Returns `None` for invalid inputs: `c == 0`, `k_total < c`, or `lambda`,
/// `mu` not finite and strictly positive.
///
/// Sources: Kleinrock Vol. 1, §3.6 and §3.7; Gross & Harris, "Simple
/// Markovian Queueing Models" (M/M/c/K).
pub fn mmck(lambda: f64, mu: f64, c: u32, k_total: u32) -> Option<FiniteQueueMetrics> {
    let p = mmck_probabilities(lambda, mu, c, k_total)?;
    let cu = c as usize;
    let k = k_total as usize;
    let blocking_prob = p[k];
    // 1 - p_K summed directly, to avoid cancellation when p_K is close to 1.
    let admit_prob: f64 = p[..k].iter().sum();
    let throughput = lambda * admit_prob;
    let mut l = 0.0_f64;
    let mut lq = 0.0_f64;
    for (n, &pn) in p.iter().enumerate() {
        l += n as f64 * pn;
        if n > cu {
            lq += (n - cu) as f64 * pn;
        }
    }
    let (mean_response, mean_wait) = if throughput > 0.0 {
        (l / throughput, lq / throughput)
    } else {
        // Only reachable if p_0..p_{K-1} all underflowed; an admitted request
        // would then wait for all K-c ahead of it to be served at rate c mu.
        let wq = (k - cu) as f64 / (f64::from(c) * mu);
        (wq + 1.0 / mu, wq)
    };
    Some(FiniteQueueMetrics { blocking_prob, utilization: throughput / (f64::from(c) * mu), mean_in_system: l, mean_response, mean_wait, throughput })
}

/// Expected number of attempts made for one request when each attempt fails
/// independently with probability `p_fail` and the caller retries until
/// success or `max_attempts` attempts have been made:
///
/// ```text
/// E[attempts] = sum_{i=0}^{n-1} p^i = (1 - p^n) / (1 - p),   = n when p = 1
/// ```
///
/// (attempt `i + 1` is made iff the first `i` all failed). Evaluated as
/// `-expm1(n ln(1 - q)) / q` with `q = 1 - p` to stay accurate near `p = 1`.
///
/// Returns `0.0` for `max_attempts == 0` and `NaN` if `p_fail` is not in
/// `[0, 1]`.
pub fn retry_attempts_per_request(p_fail: f64, max_attempts: u32) -> f64 {
    if !(0.0..=1.0).contains(&p_fail) {
        return f64::NAN;
    }
    if max_attempts == 0 {
        return 0.0;
    }
    let n = f64::from(max_attempts);
    if p_fail == 1.0 {
        return n;
    }
    if p_fail == 0.0 {
        return 1.0;
    }
    let q = 1.0 - p_fail;
    -(n * (-q).ln_1p()).exp_m1() / q
}

/// Retry amplification through a stack of layers that each retry, **simple
/// model**: the product of every layer's expected attempts,
///
/// ```text
/// amplification = prod_l  retry_attempts_per_request(p, n_l)
/// ```
///
/// i.e. the expected number of calls reaching the bottom per top-level
/// request, assuming the failure probability seen by *every* layer for
/// each of its attempts is `p` (as when failures are fully correlated
/// across retries, e.g. a hard outage).
///
/// * Exact when `p = 1` (every attempt fails): the bottom sees the product
///   of attempts, e.g. 3 layers of 3 tries each -> 27x.
/// * Exact when `p = 0`: 1x.
/// * For `0 < p < 1` with failures independent per bottom attempt this is a
///   conservative upper bound, because retries below make a layer's calls
///   fail with the smaller probability `p^(attempts below)`; see
///   [`layered_amplification_independent`] for that case.
///
/// The order of `attempts_per_layer` does not matter. An empty slice gives
/// 1. Returns `NaN` if `p_fail` is not in `[0, 1]`.
pub fn layered_amplification(p_fail: f64, attempts_per_layer: &[u32]) -> f64 {
    if !(0.0..=1.0).contains(&p_fail) {
        return f64::NAN;
    }
    attempts_per_layer.iter().map(|&n| retry_attempts_per_request(p_fail, n)).product()
}

/// Retry amplification when only the bottom service fails, independently
/// for each call with probability `p_fail`, and every layer above retries
/// its own call to the layer below.
///
/// `attempts_per_layer` is ordered from the outermost caller (index 0) to
/// the layer that calls the bottom service (last index). A call made by
/// layer `l` fails only if all of the layers below exhausted their attempts,
/// so layer `l` sees failure probability `f_l = p^(prod_{j>l} n_j)`, and by
/// Wald's identity (the attempt count is a stopping time)
///
/// ```text
/// expected bottom calls per top request = prod_l  E[attempts](f_l, n_l)
/// ```
///
/// Equals [`layered_amplification`] for `p` in `{0, 1}` and is smaller for
/// `0 < p < 1`. Returns `NaN` if `p_fail` is not in `[0, 1]`.
pub fn layered_amplification_independent(p_fail: f64, attempts_per_layer: &[u32]) -> f64 {
    if !(0.0..=1.0).contains(&p_fail) {
        return f64::NAN;
    }
    let mut amplification = 1.0_f64;
    let mut fail = p_fail; // failure probability seen by the current layer
    for &n in attempts_per_layer.iter().rev() {
        amplification *= retry_attempts_per_request(fail, n);
        // The layer above sees this layer fail iff all n attempts failed
        // (a layer making 0 attempts always fails).
        fail = if n == 0 { 1.0 } else { fail.powf(f64::from(n)) };
    }
    amplification
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative (or, near zero, absolute) closeness.
    fn assert_close(actual: f64, expected: f64, tol: f64) {
        let scale = expected.abs().max(1e-300);
        let err = (actual - expected).abs();
        assert!(err <= tol * scale || err <= tol * 1e-12, "actual {actual:e}, expected {expected:e}, rel err {:e} > {tol:e}", err / scale);
    }

    /// Erlang B straight from the definition, for small c.
    fn erlang_b_direct(c: u32, a: f64) -> f64 {
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..=c {
            term *= a / f64::from(k);
            sum += term;
        }
        term / sum
    }

    // ---- Erlang B / C ----

    #[test]
    fn erlang_b_table_values() {
        // Published Erlang B table values.
        assert_close(erlang_b(10, 5.0), 0.018_384, 1e-4);
        assert_close(erlang_b(10, 5.0), 0.018_384_570_336_648, 1e-9);
        assert_close(erlang_b(1, 1.0), 0.5, 1e-12);
        assert_close(erlang_b(2, 1.0), 0.2, 1e-12);
        assert_close(erlang_b(5, 3.0), 0.110_054, 1e-5);
        assert_eq!(erlang_b(0, 3.0), 1.0);
        assert_eq!(erlang_b(4, 0.0), 0.0);
        assert_eq!(erlang_b(4, f64::INFINITY), 1.0);
        assert!(erlang_b(4, -1.0).is_nan());
        assert!(erlang_b(4, f64::NAN).is_nan());
    }

    #[test]
    fn erlang_b_recursion_matches_definition() {
        for c in 0..=30 {
            for &a in &[0.1, 0.5, 1.0, 2.5, 7.0, 15.0, 40.0] {
                assert_close(erlang_b(c, a), erlang_b_direct(c, a), 1e-12);
            }
        }
    }

    #[test]
    fn erlang_b_large_c_is_finite() {
        let b = erlang_b(200, 180.0);
        assert!(b.is_finite() && b > 0.0 && b < 1.0);
        let b = erlang_b(10_000, 9_000.0);
        assert!(b.is_finite() && b > 0.0 && b < 1.0);
    }

    #[test]
    fn erlang_c_values() {
        assert_close(erlang_c(2, 1.0).unwrap(), 1.0 / 3.0, 1e-12);
        // M/M/1: P(wait) = rho.
        assert_close(erlang_c(1, 0.7).unwrap(), 0.7, 1e-12);
        // Published table value C(10, 5) ~ 0.0361 (exact: 0.036105359...).
        assert_close(erlang_c(10, 5.0).unwrap(), 0.036_105_359_158_32, 1e-9);
        // Textbook closed form for c = 3, a = 2.
        let a: f64 = 2.0;
        let tail = a.powi(3) / 6.0 / (1.0 - a / 3.0);
        let expected = tail / (1.0 + a + a * a / 2.0 + tail);
        assert_close(erlang_c(3, a).unwrap(), expected, 1e-12);
        assert_eq!(erlang_c(3, 0.0), Some(0.0));
    }

    #[test]
    fn erlang_c_unstable_or_invalid_is_none() {
        assert_eq!(erlang_c(2, 2.0), None);
        assert_eq!(erlang_c(2, 3.0), None);
        assert_eq!(erlang_c(0, 0.5), None);
        assert_eq!(erlang_c(2, -0.1), None);
        assert_eq!(erlang_c(2, f64::NAN), None);
    }

    // ---- M/M/1, M/M/c ----

    #[test]
    fn mm1_half_load() {
        let m = mm1(0.5, 1.0).unwrap();
        assert_close(m.utilization, 0.5, 1e-12);
        assert_close(m.prob_wait, 0.5, 1e-12);
        assert_close(m.mean_wait, 1.0, 1e-12);
        assert_close(m.mean_response, 2.0, 1e-12);
        assert_close(m.mean_queue_len, 0.5, 1e-12);
        assert_close(m.mean_in_system(0.5), 1.0, 1e-12);
    }

    #[test]
    fn mm1_invalid_is_none() {
        assert!(mm1(1.0, 1.0).is_none());
        assert!(mm1(2.0, 1.0).is_none());
        assert!(mm1(0.0, 1.0).is_none());
        assert!(mm1(0.5, 0.0).is_none());
        assert!(mm1(f64::NAN, 1.0).is_none());
        assert!(mm1(0.5, f64::INFINITY).is_none());
    }

    #[test]
    fn mmc_with_one_server_equals_mm1() {
        for &(lambda, mu) in &[(0.5, 1.0), (3.0, 4.0), (9.9, 10.0), (0.01, 2.0)] {
            let a = mm1(lambda, mu).unwrap();
            let b = mmc(lambda, mu, 1).unwrap();
            assert_close(b.utilization, a.utilization, 1e-12);
            assert_close(b.prob_wait, a.prob_wait, 1e-12);
            assert_close(b.mean_wait, a.mean_wait, 1e-9);
            assert_close(b.mean_response, a.mean_response, 1e-9);
            assert_close(b.mean_queue_len, a.mean_queue_len, 1e-9);
        }
    }

    #[test]
    fn mmc_two_servers() {
        // a = 1, c = 2: C = 1/3, Wq = C / (2 - 1) = 1/3.
        let m = mmc(1.0, 1.0, 2).unwrap();
        assert_close(m.utilization, 0.5, 1e-12);
        assert_close(m.prob_wait, 1.0 / 3.0, 1e-12);
        assert_close(m.mean_wait, 1.0 / 3.0, 1e-12);
        assert_close(m.mean_response, 4.0 / 3.0, 1e-12);
        assert_close(m.mean_queue_len, 1.0 / 3.0, 1e-12);
        assert!(mmc(2.0, 1.0, 2).is_none());
        assert!(mmc(1.0, 1.0, 0).is_none());
    }

    // ---- M/G/1, M/D/1 ----

    #[test]
    fn mg1_exponential_service_equals_mm1() {
        // Exponential service: E[S^2] = 2 / mu^2.
        let (lambda, mu) = (0.7, 1.3);
        let g = mg1(lambda, 1.0 / mu, 2.0 / (mu * mu)).unwrap();
        let m = mm1(lambda, mu).unwrap();
        assert_close(g.mean_wait, m.mean_wait, 1e-12);
        assert_close(g.mean_response, m.mean_response, 1e-12);
        assert_close(g.mean_queue_len, m.mean_queue_len, 1e-12);
        assert_close(g.prob_wait, m.prob_wait, 1e-12);
    }

    #[test]
    fn md1_wait_is_half_mm1() {
        for &rho in &[0.1, 0.5, 0.8, 0.99] {
            let s = 0.02; // 20 ms service
            let lambda = rho / s;
            let d = md1(lambda, s).unwrap();
            let m = mm1(lambda, 1.0 / s).unwrap();
            assert_close(d.utilization, rho, 1e-12);
            assert_close(d.mean_wait, 0.5 * m.mean_wait, 1e-9);
            assert_close(d.mean_queue_len, 0.5 * m.mean_queue_len, 1e-9);
            assert_close(d.mean_response, d.mean_wait + s, 1e-12);
        }
    }

    #[test]
    fn mg1_invalid_is_none() {
        assert!(mg1(1.0, 1.0, 1.0).is_none()); // rho = 1
        assert!(mg1(0.5, 1.0, 0.5).is_none()); // negative variance
        assert!(mg1(0.5, 0.0, 0.0).is_none());
        assert!(mg1(0.5, 1.0, f64::INFINITY).is_none());
        assert!(md1(0.0, 1.0).is_none());
    }

    // ---- M/M/c/K ----

    #[test]
    fn mmck_probabilities_sum_to_one() {
        for &(lambda, mu, c, k) in &[(0.5, 1.0, 1, 5), (3.0, 1.0, 2, 10), (250.0, 1.0, 200, 10_000), (180.0, 1.0, 200, 10_000), (1e-3, 1.0, 200, 10_000)] {
            let p = mmck_probabilities(lambda, mu, c, k).unwrap();
            assert_eq!(p.len(), k as usize + 1);
            assert!(p.iter().all(|x| x.is_finite() && *x >= 0.0));
            assert_close(p.iter().sum::<f64>(), 1.0, 1e-12);
        }
    }

    #[test]
    fn mmck_invalid_is_none() {
        assert!(mmck(1.0, 1.0, 3, 2).is_none());
        assert!(mmck(1.0, 1.0, 0, 2).is_none());
        assert!(mmck(0.0, 1.0, 1, 2).is_none());
        assert!(mmck(1.0, -1.0, 1, 2).is_none());
        assert!(mmck(f64::NAN, 1.0, 1, 2).is_none());
    }

    #[test]
    fn mmck_with_k_equal_c_is_erlang_b() {
        for &(c, a) in &[(1, 0.5), (10, 5.0), (5, 3.0), (50, 60.0), (200, 180.0)] {
            let m = mmck(a * 2.0, 2.0, c, c).unwrap();
            assert_close(m.blocking_prob, erlang_b(c, a), 1e-9);
            assert_eq!(m.mean_wait, 0.0);
            assert_close(m.mean_response, 0.5, 1e-9);
        }
    }

    #[test]
    fn mm1k_matches_closed_form() {
        // M/M/1/K: p_n = (1 - rho) rho^n / (1 - rho^(K+1)).
        let (lambda, mu, k) = (0.8_f64, 1.0_f64, 6_u32);
        let rho = lambda / mu;
        let m = mmck(lambda, mu, 1, k).unwrap();
        let denom = 1.0 - rho.powi(k as i32 + 1);
        let pk = (1.0 - rho) * rho.powi(k as i32) / denom;
        let l = rho / (1.0 - rho) - (k as f64 + 1.0) * rho.powi(k as i32 + 1) / denom;
        assert_close(m.blocking_prob, pk, 1e-12);
        assert_close(m.mean_in_system, l, 1e-12);
        assert_close(m.throughput, lambda * (1.0 - pk), 1e-12);
        assert_close(m.mean_response, l / (lambda * (1.0 - pk)), 1e-12);
        assert_close(m.utilization, 1.0 - (1.0 - rho) / denom, 1e-12); // 1 - p_0

        // rho = 1: uniform distribution.
        let m = mmck(1.0, 1.0, 1, 9).unwrap();
        assert_close(m.blocking_prob, 0.1, 1e-12);
        assert_close(m.mean_in_system, 4.5, 1e-12);
    }

    #[test]
    fn mmck_with_huge_k_approaches_mmc() {
        for &(lambda, mu, c) in &[(0.5, 1.0, 1), (3.5, 1.0, 5), (180.0, 1.0, 200), (9.0, 2.0, 5)] {
            let inf = mmc(lambda, mu, c).unwrap();
            let fin = mmck(lambda, mu, c, 10_000).unwrap();
            assert!(fin.blocking_prob < 1e-12, "blocking {}", fin.blocking_prob);
            assert_close(fin.utilization, inf.utilization, 1e-9);
            assert_close(fin.mean_wait, inf.mean_wait, 1e-9);
            assert_close(fin.mean_response, inf.mean_response, 1e-9);
            assert_close(fin.mean_in_system, inf.mean_in_system(lambda), 1e-9);
            assert_close(fin.throughput, lambda, 1e-9);
        }
    }

    #[test]
    fn mmck_overloaded_large_system() {
        // c = 200, K = 10_000, offered load 250 Erlangs: servers saturate,
        // throughput -> c mu, blocking -> 1 - c mu / lambda.
        let (lambda, mu, c, k) = (250.0, 1.0, 200, 10_000);
        let m = mmck(lambda, mu, c, k).unwrap();
        assert_close(m.throughput, 200.0, 1e-9);
        assert_close(m.blocking_prob, 0.2, 1e-9);
        assert_close(m.utilization, 1.0, 1e-9);
        assert!(m.mean_in_system > 9_000.0 && m.mean_in_system <= 10_000.0);
        // Every admitted request is served in 1/mu on average.
        assert_close(m.mean_response - m.mean_wait, 1.0 / mu, 1e-9);

        // Extreme overload: almost everything blocked, still finite.
        let m = mmck(1e6, 1.0, 200, 10_000).unwrap();
        assert!(m.blocking_prob > 0.999);
        assert_close(m.throughput, 200.0, 1e-6);
        assert_close(m.mean_wait, 9_800.0 / 200.0, 1e-3);
    }

    #[test]
    fn mmck_littles_law_consistency() {
        for &(lambda, mu, c, k) in &[(5.0, 1.0, 4, 12), (0.3, 2.0, 3, 3), (40.0, 0.5, 64, 500)] {
            let m = mmck(lambda, mu, c, k).unwrap();
            assert_close(m.throughput, lambda * (1.0 - m.blocking_prob), 1e-12);
            assert_close(m.mean_response, m.mean_wait + 1.0 / mu, 1e-9);
            assert_close(m.utilization, m.throughput / (f64::from(c) * mu), 1e-12);
        }
    }

    // ---- retries ----

    #[test]
    fn retry_attempts() {
        assert_close(retry_attempts_per_request(0.5, 3), 1.75, 1e-12);
        assert_eq!(retry_attempts_per_request(1.0, 3), 3.0);
        assert_eq!(retry_attempts_per_request(0.0, 3), 1.0);
        assert_eq!(retry_attempts_per_request(0.3, 0), 0.0);
        assert_close(retry_attempts_per_request(0.3, 1), 1.0, 1e-12);
        assert_close(retry_attempts_per_request(0.1, 2), 1.1, 1e-12);
        // Continuous near p = 1.
        assert_close(retry_attempts_per_request(1.0 - 1e-12, 5), 5.0, 1e-9);
        assert!(retry_attempts_per_request(1.5, 3).is_nan());
        assert!(retry_attempts_per_request(-0.1, 3).is_nan());
        assert!(retry_attempts_per_request(f64::NAN, 3).is_nan());
        // Matches the direct sum.
        for &p in &[0.05, 0.2, 0.5, 0.9, 0.999] {
            for n in 1..20 {
                let direct: f64 = (0..n).map(|i| f64::powi(p, i)).sum();
                assert_close(retry_attempts_per_request(p, n as u32), direct, 1e-12);
            }
        }
    }

    #[test]
    fn layered_amplification_simple() {
        assert_close(layered_amplification(1.0, &[3, 3, 3]), 27.0, 1e-12);
        assert_close(layered_amplification(0.5, &[3]), 1.75, 1e-12);
        assert_close(layered_amplification(0.5, &[3, 3]), 1.75 * 1.75, 1e-12);
        assert_close(layered_amplification(0.0, &[3, 3, 3]), 1.0, 1e-12);
        assert_eq!(layered_amplification(0.5, &[]), 1.0);
        assert!(layered_amplification(2.0, &[3]).is_nan());
    }

    /// Expected bottom calls by brute-force recursion over the layer stack,
    /// returning (expected bottom calls, probability the call fails).
    fn brute_force(p: f64, layers: &[u32]) -> (f64, f64) {
        match layers.split_first() {
            None => (1.0, p),
            Some((&n, below)) => {
                let (calls_below, fail_below) = brute_force(p, below);
                let mut expected = 0.0;
                let mut reach = 1.0; // probability attempt i is made
                for _ in 0..n {
                    expected += reach * calls_below;
                    reach *= fail_below;
                }
                (expected, reach)
            }
        }
    }

    #[test]
    fn layered_amplification_independent_failures() {
        assert_close(layered_amplification_independent(1.0, &[3, 3, 3]), 27.0, 1e-12);
        assert_close(layered_amplification_independent(0.0, &[3, 3, 3]), 1.0, 1e-12);
        assert_close(layered_amplification_independent(0.5, &[3]), 1.75, 1e-12);
        // Two layers of two: bottom 1 + 0.5 = 1.5, seen failure 0.25,
        // top 1 + 0.25 = 1.25 -> 1.875 (simple model: 2.25).
        assert_close(layered_amplification_independent(0.5, &[2, 2]), 1.875, 1e-12);
        for &p in &[0.1, 0.5, 0.9] {
            for layers in [&[3u32, 3, 3][..], &[2, 5], &[4, 1, 2], &[1]] {
                let exact = layered_amplification_independent(p, layers);
                assert_close(exact, brute_force(p, layers).0, 1e-12);
                assert!(exact <= layered_amplification(p, layers) * (1.0 + 1e-12));
            }
        }
        assert!(layered_amplification_independent(-1.0, &[3]).is_nan());
    }
}
