//! The webhook service alone reproduces queueing theory.
//!
//! `models/mm1.toml`, `mmc.toml`, `md1.toml` and `mmck.toml` are one service fed by Poisson
//! arrivals with nothing else on the path (no edge, no proxy, no token endpoint, zero link
//! latency), so the service is exactly the textbook queue and its results must match the closed
//! forms in `edgesim::analysis::queueing`:
//!
//! * M/M/1 at rho = 0.5, 0.8, 0.9: mean wait W_q and mean response W;
//! * M/M/4 at rho = 0.5, 0.8, 0.9: W_q (Erlang C) and W;
//! * M/D/1 at rho = 0.5, 0.8, 0.9: W_q and W (Pollaczek-Khinchine);
//! * M/M/2/5 at offered loads 1, 2 and 4 Erlangs (rho = 0.5, 1, 2): blocking probability
//!   (`queue_full_rejections / invocations`), mean wait of admitted requests, and mean latency
//!   over all invocations (rejections answer at once, so it is (1 - p_K) W).
//!
//! Every model uses a mean service time of 1 s (mu = 1/s), so `workload[0].arrivals.rate` is
//! the offered load in Erlangs and times are in units of the mean service time.
//!
//! What is not checked: the probability of waiting (Erlang C for M/M/c). The summary exposes the
//! mean queue wait but not the fraction of requests whose wait is positive; it needs a
//! `queued_fraction` (or a zero-wait count) in `Summary` before it can be tested.
//!
//! # Tolerances
//!
//! Each check allows `Z * sqrt(SIGMA2 / n) + QUANT * expected`:
//!
//! * `n` is the number of customers pooled over the independent seeds (`SEEDS.len()` runs of
//!   `customers_per_seed()`: 4 x 10^6 in release builds, 10^6 in debug builds, so debug runs
//!   stay near a minute; the tolerance widens by 2x there on its own).
//! * `SIGMA2` is the asymptotic variance constant of the per-customer mean (the variance of the
//!   mean of n customers is SIGMA2 / n for large n; customers are strongly correlated in a busy
//!   queue, so it is far larger than the variance of one wait). For M/M/1 W_q it is known in
//!   closed form (Daley 1968; Whitt, "Planning queueing simulations", Management Science 1989):
//!   SIGMA2 = rho (2 + 5 rho - 4 rho^2 + rho^3) / (1 - rho)^4 = 29, 1976, 35 901 at
//!   rho = 0.5, 0.8, 0.9. For the rest there is no handy closed form, so it was estimated from
//!   64 independent replications of 250 000 customers (`calibrate_asymptotic_variances` below,
//!   ignored; rerun it with `--ignored --nocapture` after changing a model). The tables use
//!   twice the estimate, rounded up: the sample variance of 64 skewed run means can be off by a
//!   factor 1.5-2 (two calibrations of M/D/1 at rho = 0.9 gave 2 665 and 5 116, against
//!   ~6 000 from the heavy-traffic approximation v^3 / (2 m^4)), and doubling still leaves the
//!   M/M/1 W_q constant above Daley's exact value (46 > 29, 4 442 > 1 976, 81 744 > 35 901).
//! * `Z = 5`: with SIGMA2 doubled the effective margin is ~7 standard errors, so a correct
//!   simulator essentially never fails, whatever the seeds.
//! * `QUANT = 0.001`: latencies and waits are means of an HDR histogram with 3 significant
//!   digits, whose buckets are at most 1/1024 wide (each value is read back within 1/2048).
//!   Counts (blocking) are exact and get no such slack.
//!
//! Resulting tolerances in release builds, relative to the expected value, at rho = 0.5, 0.8,
//! 0.9 (M/M/2/5: a = 1, 2, 4): M/M/1 W_q 2.0%, 4.3%, 8.1% and W 1.1%, 3.5%, 7.3%; M/M/4 W_q
//! 4.0%, 5.6%, 9.1% and W 0.6%, 2.6%, 6.1%; M/D/1 W_q 1.3%, 2.4%, 5.7% and W 0.5%, 1.7%, 4.7%;
//! M/M/2/5 blocking 3.3%, 1.2%, 0.55%, admitted W_q 1.5%, 1.1%, 1.0%, latency 0.6%, 0.6%, 0.5%.
//! The tests print each check's deviation (run with `--nocapture`).
//!
//! A service rate off by 5% moves these values by 1.5% (mean latency of M/M/2/5 at a = 4, diluted
//! by the instant rejections) to over 100% (waits at rho = 0.9). The `*_detects_a_5_percent_error`
//! tests run every model and load with the service rate 5% too slow and 5% too fast, on a quarter
//! of the customers (so with tolerances twice as wide), and assert that each load fails at least
//! one check. When written, every single check failed, the closest by 1.8 tolerances, and each
//! load's best check by at least 2.2 tolerances (M/M/1 at rho = 0.9 with the faster service) at
//! that quarter sample, i.e. by ~4.4 tolerances at the full one.

use crate::load;
use edgesim::analysis::queueing::{md1, mm1, mmc, mmck};
use edgesim::model::metrics::Summary;
use edgesim::model::world::RunOptions;

/// Standard errors allowed (see the module comment).
const Z: f64 = 5.0;
/// Relative slack for histogram means.
const QUANT: f64 = 0.001;
/// Independent replications, pooled.
const SEEDS: [u64; 4] = [101, 102, 103, 104];

/// Customers (expected arrivals) per seed. Each is at least 1000 relaxation times of the
/// slowest queue here (M/M/1 at rho = 0.9 relaxes in ~1/(1 - sqrt(rho))^2 ~ 400 services), so
/// starting empty biases the means by well under a tenth of a standard error.
fn customers_per_seed() -> f64 {
    if cfg!(debug_assertions) {
        250_000.0
    } else {
        1_000_000.0
    }
}

/// The mean service time of every model, in seconds (mu = 1/s).
const SERVICE_S: f64 = 1.0;
/// Service rates 5% too slow and 5% too fast, as overrides of the mean service time.
const WRONG_SERVICE_MEANS: [&str; 2] = ["1.052632s", "0.952381s"];

/// Pooled results of one configuration over `SEEDS`.
struct Pooled {
    /// Sum over seeds of the expected number of arrivals, lambda * duration.
    expected_arrivals: f64,
    invocations: u64,
    rejections: u64,
    ok: u64,
    unfinished: u64,
    /// Means of the per-seed means (every seed has the same duration, so equal weights).
    mean_wait_s: f64,
    mean_latency_s: f64,
}

impl Pooled {
    fn customers(&self) -> f64 {
        self.invocations as f64
    }
    fn blocking(&self) -> f64 {
        self.rejections as f64 / self.invocations as f64
    }
}

fn simulate(file: &str, rate: f64, customers_per_seed: f64, extra: &[String]) -> Pooled {
    let duration_s = (customers_per_seed / rate).round();
    let mut ov = vec![format!("workload[0].arrivals.rate={rate}"), format!("simulation.duration={duration_s}s")];
    ov.extend(extra.iter().cloned());
    let ov: Vec<&str> = ov.iter().map(|s| s.as_str()).collect();
    let runs: Vec<Summary> = SEEDS
        .iter()
        .map(|&seed| {
            edgesim::run(load(file, &ov), RunOptions { seed: Some(seed), ..Default::default() }).unwrap_or_else(|e| panic!("{file} {ov:?} seed {seed}: {e}"))
        })
        .collect();
    let k = runs.len() as f64;
    Pooled {
        expected_arrivals: rate * duration_s * k,
        invocations: runs.iter().map(|s| s.invocations).sum(),
        rejections: runs.iter().map(|s| s.queue_full_rejections).sum(),
        ok: runs.iter().map(|s| *s.outcomes.get("200").unwrap_or(&0)).sum(),
        unfinished: runs.iter().map(|s| s.invocations_unfinished).sum(),
        mean_wait_s: runs.iter().map(|s| s.mean_queue_wait_ms / 1000.0).sum::<f64>() / k,
        mean_latency_s: runs.iter().map(|s| s.latency.mean_ms / 1000.0).sum::<f64>() / k,
    }
}

/// One comparison of a simulated mean with its closed form.
struct Check {
    what: String,
    measured: f64,
    expected: f64,
    tol: f64,
}

impl Check {
    fn new(what: String, measured: f64, expected: f64, sigma2: f64, n: f64, quant: f64) -> Check {
        let tol = Z * (sigma2 / n).sqrt() + quant * expected.abs();
        Check { what, measured, expected, tol }
    }
    fn passes(&self) -> bool {
        (self.measured - self.expected).abs() <= self.tol
    }
    fn line(&self) -> String {
        let dev = self.measured - self.expected;
        format!(
            "{:<40} measured {:>10.5}  expected {:>10.5}  deviation {:>+8.3}% ({:>+5.2} tol)  tol {:.3}%  {}",
            self.what,
            self.measured,
            self.expected,
            100.0 * dev / self.expected,
            dev / self.tol,
            100.0 * self.tol / self.expected,
            if self.passes() { "ok" } else { "FAIL" }
        )
    }
}

/// Checks that hold for any of these runs, right or wrong service rate: every Poisson arrival
/// happened (count within 5 standard deviations of lambda T) and every invocation ended.
fn sanity(label: &str, p: &Pooled) {
    let sd = p.expected_arrivals.sqrt();
    assert!(
        (p.invocations as f64 - p.expected_arrivals).abs() <= 5.0 * sd,
        "{label}: {} arrivals, expected {} +- {:.0}",
        p.invocations,
        p.expected_arrivals,
        5.0 * sd
    );
    assert_eq!(p.unfinished, 0, "{label}: invocations left unfinished after the drain");
    assert_eq!(p.ok + p.rejections, p.invocations, "{label}: an outcome other than 200 or a queue-full rejection");
}

fn report_and_assert(title: &str, checks: &[Check]) {
    eprintln!("{title}");
    for c in checks {
        eprintln!("  {}", c.line());
    }
    let failed: Vec<String> = checks.iter().filter(|c| !c.passes()).map(|c| c.line()).collect();
    assert!(failed.is_empty(), "{title}: {} check(s) outside tolerance:\n  {}", failed.len(), failed.join("\n  "));
}

/// Asserts that a deliberately wrong model fails at least one check at every load.
fn assert_each_load_fails(title: &str, per_load: &[(String, Vec<Check>)]) {
    eprintln!("{title}");
    let mut undetected = vec![];
    for (label, checks) in per_load {
        for c in checks {
            eprintln!("  {label}: {}", c.line());
        }
        if checks.iter().all(|c| c.passes()) {
            undetected.push(label.clone());
        }
    }
    assert!(undetected.is_empty(), "{title}: the wrong model passed every check at {undetected:?}; the tolerances are too loose to catch it");
}

// ---- M/M/1 ---------------------------------------------------------------------------------

/// Asymptotic variance constants (s^2 per customer) at rho = 0.5, 0.8, 0.9: twice the larger
/// calibration estimate, rounded up. Calibration (64 x 250k): W_q 23.0, 2 221, 40 872 (Daley's
/// exact: 29, 1 976, 35 901); W 29.7, 2 272, 41 083 (24 x 500k: 25.4, 2 071, 39 550).
const MM1_RHO: [f64; 3] = [0.5, 0.8, 0.9];
const MM1_SIGMA2_WQ: [f64; 3] = [60.0, 4_500.0, 82_000.0];
const MM1_SIGMA2_W: [f64; 3] = [60.0, 4_600.0, 83_000.0];

fn mm1_checks(i: usize, customers_per_seed: f64, extra: &[String]) -> Vec<Check> {
    let rho = MM1_RHO[i];
    let label = format!("M/M/1 rho={rho}");
    let p = simulate("models/mm1.toml", rho, customers_per_seed, extra);
    sanity(&label, &p);
    assert_eq!(p.rejections, 0, "{label}: the unbounded queue rejected requests");
    let t = mm1(rho, 1.0 / SERVICE_S).unwrap();
    let n = p.customers();
    vec![
        Check::new(format!("{label} mean wait W_q (s)"), p.mean_wait_s, t.mean_wait, MM1_SIGMA2_WQ[i], n, QUANT),
        Check::new(format!("{label} mean response W (s)"), p.mean_latency_s, t.mean_response, MM1_SIGMA2_W[i], n, QUANT),
    ]
}

#[test]
fn queueing_mm1_matches_theory() {
    let checks: Vec<Check> = (0..MM1_RHO.len()).flat_map(|i| mm1_checks(i, customers_per_seed(), &[])).collect();
    report_and_assert("M/M/1 against mm1()", &checks);
}

#[test]
fn queueing_mm1_detects_a_5_percent_error() {
    let per_load: Vec<(String, Vec<Check>)> = WRONG_SERVICE_MEANS
        .iter()
        .flat_map(|m| {
            (0..MM1_RHO.len())
                .map(move |i| (format!("service mean {m}"), mm1_checks(i, customers_per_seed() / 4.0, &[format!("components.svc.service_time.mean={m}")])))
        })
        .collect();
    assert_each_load_fails("M/M/1 with the service rate 5% off", &per_load);
}

// ---- M/M/c, c = 4 --------------------------------------------------------------------------

const MMC_C: u32 = 4;
const MMC_RHO: [f64; 3] = [0.5, 0.8, 0.9];
/// Calibration (64 x 250k customers): W_q 0.8, 133, 2 492; W 2.5, 146, 2 545 (24 x 500k: W_q 0.9,
/// 120, 2 376; W 2.6, 131, 2 423). Twice the larger estimate, rounded up.
const MMC_SIGMA2_WQ: [f64; 3] = [1.8, 270.0, 5_000.0];
const MMC_SIGMA2_W: [f64; 3] = [5.2, 300.0, 5_100.0];

fn mmc_checks(i: usize, customers_per_seed: f64, extra: &[String]) -> Vec<Check> {
    let rho = MMC_RHO[i];
    let lambda = rho * f64::from(MMC_C) / SERVICE_S;
    let label = format!("M/M/{MMC_C} rho={rho}");
    let p = simulate("models/mmc.toml", lambda, customers_per_seed, extra);
    sanity(&label, &p);
    assert_eq!(p.rejections, 0, "{label}: the unbounded queue rejected requests");
    let t = mmc(lambda, 1.0 / SERVICE_S, MMC_C).unwrap();
    let n = p.customers();
    vec![
        Check::new(format!("{label} mean wait W_q (s)"), p.mean_wait_s, t.mean_wait, MMC_SIGMA2_WQ[i], n, QUANT),
        Check::new(format!("{label} mean response W (s)"), p.mean_latency_s, t.mean_response, MMC_SIGMA2_W[i], n, QUANT),
    ]
}

#[test]
fn queueing_mmc_matches_erlang_c() {
    let checks: Vec<Check> = (0..MMC_RHO.len()).flat_map(|i| mmc_checks(i, customers_per_seed(), &[])).collect();
    report_and_assert("M/M/4 against mmc() (Erlang C)", &checks);
}

#[test]
fn queueing_mmc_detects_a_5_percent_error() {
    let per_load: Vec<(String, Vec<Check>)> = WRONG_SERVICE_MEANS
        .iter()
        .flat_map(|m| {
            (0..MMC_RHO.len())
                .map(move |i| (format!("service mean {m}"), mmc_checks(i, customers_per_seed() / 4.0, &[format!("components.svc.service_time.mean={m}")])))
        })
        .collect();
    assert_each_load_fails("M/M/4 with the service rate 5% off", &per_load);
}

// ---- M/D/1 ---------------------------------------------------------------------------------

const MD1_RHO: [f64; 3] = [0.5, 0.8, 0.9];
/// Calibration (64 x 250k customers): W_q = W - 1 s, 2.3, 141, 2 665 (a 24 x 500k calibration
/// gave 2.7, 174, 5 116; heavy traffic predicts ~6 000 at 0.9). Twice the larger estimate.
const MD1_SIGMA2: [f64; 3] = [6.0, 350.0, 10_300.0];

fn md1_checks(i: usize, customers_per_seed: f64, extra: &[String]) -> Vec<Check> {
    let rho = MD1_RHO[i];
    let label = format!("M/D/1 rho={rho}");
    let p = simulate("models/md1.toml", rho, customers_per_seed, extra);
    sanity(&label, &p);
    assert_eq!(p.rejections, 0, "{label}: the unbounded queue rejected requests");
    let t = md1(rho, SERVICE_S).unwrap();
    let n = p.customers();
    vec![
        Check::new(format!("{label} mean wait W_q (s)"), p.mean_wait_s, t.mean_wait, MD1_SIGMA2[i], n, QUANT),
        Check::new(format!("{label} mean response W (s)"), p.mean_latency_s, t.mean_response, MD1_SIGMA2[i], n, QUANT),
    ]
}

#[test]
fn queueing_md1_matches_pollaczek_khinchine() {
    let checks: Vec<Check> = (0..MD1_RHO.len()).flat_map(|i| md1_checks(i, customers_per_seed(), &[])).collect();
    report_and_assert("M/D/1 against md1() (Pollaczek-Khinchine)", &checks);
}

#[test]
fn queueing_md1_detects_a_5_percent_error() {
    let per_load: Vec<(String, Vec<Check>)> = WRONG_SERVICE_MEANS
        .iter()
        .flat_map(|m| {
            (0..MD1_RHO.len())
                .map(move |i| (format!("service time {m}"), md1_checks(i, customers_per_seed() / 4.0, &[format!("components.svc.service_time={m}")])))
        })
        .collect();
    assert_each_load_fails("M/D/1 with the service rate 5% off", &per_load);
}

// ---- M/M/c/K, c = 2, K = 5 -----------------------------------------------------------------

const MMCK_C: u32 = 2;
const MMCK_K: u32 = 5;
/// Offered loads in Erlangs (rho = a / c = 0.5, 1, 2).
const MMCK_A: [f64; 3] = [1.0, 2.0, 4.0];
/// Calibration (64 x 250k customers): blocking 0.040, 0.32, 0.59; admitted W_q 0.9, 3.4, 6.3;
/// latency over all 2.6, 2.7, 0.8 (24 x 500k: 0.025, 0.37, 0.64; 0.8, 3.4, 8.4; 2.3, 3.3, 1.2).
/// Twice the larger estimate.
const MMCK_SIGMA2_BLOCK: [f64; 3] = [0.08, 0.74, 1.27];
const MMCK_SIGMA2_WQ: [f64; 3] = [1.8, 6.8, 16.8];
const MMCK_SIGMA2_LAT: [f64; 3] = [5.2, 6.6, 2.4];

fn mmck_checks(i: usize, customers_per_seed: f64, extra: &[String]) -> Vec<Check> {
    let a = MMCK_A[i];
    let lambda = a / SERVICE_S;
    let label = format!("M/M/{MMCK_C}/{MMCK_K} a={a}");
    let p = simulate("models/mmck.toml", lambda, customers_per_seed, extra);
    sanity(&label, &p);
    let t = mmck(lambda, 1.0 / SERVICE_S, MMCK_C, MMCK_K).unwrap();
    let n = p.customers();
    vec![
        Check::new(format!("{label} blocking probability"), p.blocking(), t.blocking_prob, MMCK_SIGMA2_BLOCK[i], n, 0.0),
        Check::new(format!("{label} admitted mean wait W_q (s)"), p.mean_wait_s, t.mean_wait, MMCK_SIGMA2_WQ[i], n, QUANT),
        // Rejections are answered at once (latency 0), so the mean over all invocations is
        // (1 - p_K) W.
        Check::new(format!("{label} mean latency, all (s)"), p.mean_latency_s, (1.0 - t.blocking_prob) * t.mean_response, MMCK_SIGMA2_LAT[i], n, QUANT),
    ]
}

#[test]
fn queueing_mmck_blocking_matches_theory() {
    let checks: Vec<Check> = (0..MMCK_A.len()).flat_map(|i| mmck_checks(i, customers_per_seed(), &[])).collect();
    report_and_assert("M/M/2/5 against mmck()", &checks);
}

#[test]
fn queueing_mmck_detects_a_5_percent_error() {
    let per_load: Vec<(String, Vec<Check>)> = WRONG_SERVICE_MEANS
        .iter()
        .flat_map(|m| {
            (0..MMCK_A.len())
                .map(move |i| (format!("service mean {m}"), mmck_checks(i, customers_per_seed() / 4.0, &[format!("components.svc.service_time.mean={m}")])))
        })
        .collect();
    assert_each_load_fails("M/M/2/5 with the service rate 5% off", &per_load);
}

// ---- calibration ---------------------------------------------------------------------------

/// Estimates the asymptotic variance constants used above: the sample variance of the
/// per-run means over `REPS` independent runs of `N` customers, times `N`. Takes ~40 s in
/// release mode on two cores:
/// `cargo test --release --test integration -- --ignored --nocapture calibrate_asymptotic`.
#[test]
#[ignore = "calibration, not a check: run by hand after changing a model"]
fn calibrate_asymptotic_variances() {
    const N: f64 = 250_000.0;
    const REPS: u64 = 64;
    let configs: Vec<(&str, f64)> = vec![
        ("models/mm1.toml", 0.5),
        ("models/mm1.toml", 0.8),
        ("models/mm1.toml", 0.9),
        ("models/mmc.toml", 2.0),
        ("models/mmc.toml", 3.2),
        ("models/mmc.toml", 3.6),
        ("models/md1.toml", 0.5),
        ("models/md1.toml", 0.8),
        ("models/md1.toml", 0.9),
        ("models/mmck.toml", 1.0),
        ("models/mmck.toml", 2.0),
        ("models/mmck.toml", 4.0),
    ];
    let one = |file: &str, rate: f64, seed: u64| -> [f64; 3] {
        let ov = [format!("workload[0].arrivals.rate={rate}"), format!("simulation.duration={}s", (N / rate).round())];
        let ov: Vec<&str> = ov.iter().map(|s| s.as_str()).collect();
        let s = edgesim::run(load(file, &ov), RunOptions { seed: Some(seed), ..Default::default() }).unwrap();
        [s.mean_queue_wait_ms / 1000.0, s.latency.mean_ms / 1000.0, s.queue_full_rejections as f64 / s.invocations as f64]
    };
    for (file, rate) in configs {
        let xs: Vec<[f64; 3]> = std::thread::scope(|sc| {
            let handles: Vec<_> =
                (0..2u64).map(|t| sc.spawn(move || (0..REPS).filter(|s| s % 2 == t).map(|s| one(file, rate, 1000 + s)).collect::<Vec<_>>())).collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let mut line = format!("{file} rate={rate}:");
        for (k, name) in ["W_q", "W", "blocking"].iter().enumerate() {
            let v: Vec<f64> = xs.iter().map(|x| x[k]).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0);
            line += &format!("  {name} mean {mean:.5} sigma2 {:.4}", var * N);
        }
        eprintln!("{line}");
    }
}
