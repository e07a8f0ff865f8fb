//! Backoff, Retry-After, retry budgets and the workload's shape: what retries do to the load a
//! component sees, over time.
//!
//! - a retry storm against a rate-limited token endpoint, and what honouring Retry-After with
//!   jittered backoff does to it (models/retry-storm.toml);
//! - a metastable failure sustained by timeouts and retries after its trigger is gone, cured by a
//!   retry budget, and the trigger length at which it starts (models/metastable*.toml);
//! - open vs closed workloads: backoff reduces the work only of closed-loop callers (Brooker,
//!   "What is backoff for?") (models/open-vs-closed.toml);
//! - the seed incident with the forum thread's retry advice (models/seed-with-retry-advice.toml).
//!
//! Every run here is deterministic (fixed seeds); the tolerances below cover what changes
//! between seeds, so that a reasonable change of random streams does not break them, while a
//! change of mechanism does. Run with
//! `cargo test --release --test integration -- backoff_dynamics --nocapture` to see the tables.

use super::determinism::run_traced;
use crate::load;
use edgesim::model::metrics::{ComponentSummary, Summary};
use edgesim::model::world::RunOptions;

fn run(path: &str, overrides: &[&str]) -> Summary {
    edgesim::run(load(path, overrides), RunOptions::default()).unwrap()
}

fn run_seed(path: &str, overrides: &[&str], seed: u64) -> Summary {
    edgesim::run(load(path, overrides), RunOptions { seed: Some(seed), ..Default::default() }).unwrap()
}

fn comp<'a>(s: &'a Summary, name: &str) -> &'a ComponentSummary {
    s.components.iter().find(|c| c.component == name).unwrap_or_else(|| panic!("no component {name}"))
}

// ---- 1. retry storm --------------------------------------------------------------------------

const STORM: &str = "models/retry-storm.toml";
const CURE: [&str; 2] = ["webhook.token_endpoint.retry.honour_retry_after=true", "webhook.token_endpoint.retry.backoff.strategy=full-jitter"];

/// 200 invocations within 2 s, each refreshing against 5 refreshes/s per org, retrying 429 at
/// once up to 10 times: nearly every try is a 429 and nearly every invocation fails. The storm
/// is bounded by the attempt cap (at most 2 000 tries), so the bounds are fractions of that cap:
/// at least 1 500 429s and 8 tries per invocation (measured 1 900 and 9.6, seeds 1-3 within 20 of
/// each other); fewer than 20 % of invocations served (measured 7.5 %: the bucket's 5 plus about
/// 5/s while the storm lasts).
#[test]
fn retry_storm_without_backoff() {
    let s = run(STORM, &[]);
    let idp = comp(&s, "idp");
    println!(
        "retry storm: {} invocations, idp requests {}, 429s {}, per invocation {:.2}, success {:.1} %",
        s.invocations,
        idp.requests,
        idp.rate_limited,
        idp.per_invocation,
        100.0 * s.success_rate
    );
    assert_eq!(s.invocations, 200);
    assert!(idp.rate_limited >= 1500, "429s: {}", idp.rate_limited);
    assert!(idp.per_invocation >= 8.0, "requests per invocation at the token endpoint: {}", idp.per_invocation);
    assert!(s.success_rate < 0.2, "success rate {}", s.success_rate);
}

/// Honouring Retry-After with full-jitter backoff (base 2 s, cap 20 s) spreads the retries over
/// the 40 s the rate limit needs to serve 200 refreshes: the 429s drop to about 0.42x (seeds 1-3:
/// 0.42-0.43) and every invocation is served in the end. The bound 0.5x leaves room for seed
/// noise (about 0.01) and asserts the drop the retry advice promises; the success rate must
/// exceed 95 % (measured 100 %). Either change alone is printed, not asserted: Retry-After alone
/// (always 1 s here) sends every waiting client back in the same second, a thundering herd
/// (about 0.86x); jitter alone does most of the work (about 0.43x).
#[test]
fn retry_storm_retry_after_and_jitter_cut_the_429s() {
    println!("seed  variant                          429s  idp req/inv  success");
    for seed in 1..=3 {
        let storm = run_seed(STORM, &[], seed);
        let cured = run_seed(STORM, &CURE, seed);
        let ra_only = run_seed(STORM, &CURE[..1], seed);
        let jitter_only = run_seed(STORM, &CURE[1..], seed);
        for (name, s) in [
            ("no backoff, Retry-After ignored", &storm),
            ("Retry-After only", &ra_only),
            ("full jitter only", &jitter_only),
            ("Retry-After + full jitter", &cured),
        ] {
            let idp = comp(s, "idp");
            println!("{seed:>4}  {name:<31} {:>5}  {:>11.2}  {:>6.1} %", idp.rate_limited, idp.per_invocation, 100.0 * s.success_rate);
        }
        let ratio = comp(&cured, "idp").rate_limited as f64 / comp(&storm, "idp").rate_limited as f64;
        println!("      ratio of 429s (cured / storm): {ratio:.3}");
        assert!(ratio < 0.5, "seed {seed}: 429s only dropped to {ratio:.3}x");
        assert!(cured.success_rate > 0.95, "seed {seed}: success {}", cured.success_rate);
    }
}

// ---- 2. metastable failure -------------------------------------------------------------------

const META: &str = "models/metastable.toml";
const META_BUDGET: &str = "models/metastable-budget.toml";

/// After a 15 s trigger (the token endpoint 10x slower) the queue holds more than a timeout's
/// worth of work, every try times out and is retried, and the retries keep the queue full:
/// goodput stays at zero to the end of the run, 300 s after the trigger. Goodput before the
/// trigger is the arrival rate, 60/s (a 60 s mean: about +/- 1/s); "near zero" is below 10 % of
/// it (measured 0.0).
#[test]
fn metastable_failure_does_not_recover() {
    let s = run(META, &[]);
    let r = s.recovery.clone().expect("a slow fault gives a recovery verdict");
    let idp = comp(&s, "idp");
    println!(
        "metastable: {r:?}\n  idp requests {} ({:.2} per invocation), try timeouts {}, max queue {}",
        idp.requests, idp.per_invocation, idp.try_timeouts, idp.max_queue
    );
    assert!(r.trigger_end_s - r.trigger_start_s == 15.0);
    assert!((55.0..65.0).contains(&r.goodput_before), "goodput before {}", r.goodput_before);
    assert!(!r.recovered_after_trigger, "{r:?}");
    assert!(r.time_to_recover_s.is_none());
    assert!(r.goodput_at_end < 0.1 * r.goodput_before, "goodput at end {} vs before {}", r.goodput_at_end, r.goodput_before);
    // The retries are what sustains it: over 4 tries per invocation, most of them timed out.
    assert!(idp.per_invocation > 4.0);
}

/// The same trigger with the AWS SDK retry quota on the token client: the quota runs out during
/// the trigger, each invocation then sends one try (60/s against a capacity of 100/s), the
/// backlog drains and goodput comes back in about 18 s. "Near baseline" is goodput over the last
/// 60 s at least 85 % of goodput before: both are 60 s means of about 60/s Poisson arrivals
/// (standard deviation about 1/s each), so a recovered system is above 0.9 with margin and a
/// half-recovered one fails. Envoy's ratio budget (20 % of active requests) recovers too.
#[test]
fn metastable_failure_recovers_with_a_retry_budget() {
    let s = run(META_BUDGET, &[]);
    let r = s.recovery.clone().unwrap();
    let idp = comp(&s, "idp");
    println!(
        "with token-bucket budget: {r:?}\n  idp requests {} ({:.2} per invocation), budget refusals {}, max queue {}",
        idp.requests, idp.per_invocation, idp.budget_refusals, idp.max_queue
    );
    assert!(r.recovered_after_trigger, "{r:?}");
    let t = r.time_to_recover_s.unwrap();
    assert!(t < 60.0, "recovered, but only after {t} s");
    assert!(r.goodput_at_end >= 0.85 * r.goodput_before, "goodput at end {} vs before {}", r.goodput_at_end, r.goodput_before);
    assert!(idp.budget_refusals > 0, "the budget did the work");

    let s = run(META, &["webhook.token_endpoint.retry_budget={ kind = \"ratio\" }"]);
    let r = s.recovery.clone().unwrap();
    println!("with Envoy ratio budget: {r:?}");
    assert!(r.recovered_after_trigger, "{r:?}");
    assert!(r.goodput_at_end >= 0.85 * r.goodput_before);
}

/// How long must the trigger last to tip the system? Two slowdowns: the model's factor 10
/// (capacity 10/s against 60/s offered) and a milder factor 2 (50/s against 60/s). The system
/// tips once the backlog holds about a timeout's worth of work (100 refreshes at full speed):
/// after about 1-2 s at factor 10, about 5 s at factor 2 (10 more requests/s than it serves;
/// the exact second moves with the Poisson arrivals: 4-8 s over seeds 1-6). Asserted: a
/// threshold exists within the lengths tried (the shortest recovers, the longest does not) and
/// is sharp (recovery is monotone in the trigger length), for this seed.
#[test]
fn metastable_trigger_length_threshold() {
    for (factor, lengths) in [(10.0, &[1u64, 2, 5, 10, 20][..]), (2.0, &[1, 2, 3, 4, 5, 6, 8, 10, 20][..])] {
        println!("slowdown x{factor}: trigger  recovered  time to recover  goodput before/at end  idp max queue");
        let mut verdicts = vec![];
        for &len in lengths {
            let end = format!("fault[0].end={}s", 60 + len);
            let f = format!("fault[0].factor={factor}");
            let s = run(META, &[&end, &f]);
            let r = s.recovery.clone().unwrap();
            println!(
                "{:>22} s  {:>9}  {:>15}  {:>10.1} / {:<9.1}  {:>13}",
                len,
                r.recovered_after_trigger,
                r.time_to_recover_s.map(|t| format!("{t:.0} s")).unwrap_or("-".into()),
                r.goodput_before,
                r.goodput_at_end,
                comp(&s, "idp").max_queue
            );
            verdicts.push(r.recovered_after_trigger);
        }
        assert!(verdicts[0], "x{factor}: the shortest trigger should be survivable");
        assert!(!verdicts[verdicts.len() - 1], "x{factor}: the longest trigger should tip the system");
        let threshold = verdicts.iter().position(|v| !v).unwrap();
        assert!(verdicts[threshold..].iter().all(|v| !v), "x{factor}: recovery is not monotone in the trigger length: {verdicts:?}");
        println!("  threshold: between {} s and {} s", lengths[threshold - 1], lengths[threshold]);
    }
}

// ---- 3. open vs closed -----------------------------------------------------------------------

const OPEN_CLOSED: &str = "models/open-vs-closed.toml";

/// Requests reaching each service, and invocations of each org.
fn work(s: &Summary) -> (f64, f64, u64, u64) {
    let inv = |org: &str| s.orgs.iter().find(|o| o.org == org).unwrap().invocations;
    (comp(s, "svc-closed").requests as f64, comp(s, "svc-open").requests as f64, inv("closed"), inv("open"))
}

/// Total work (requests reaching the service over the run) with exponential backoff (1 s, 2 s,
/// 4 s) against none, half of all requests failing, 4 attempts.
///
/// Closed loop: a session's cycle is think (1 s) + 1.875 attempts x 12 ms without backoff, plus
/// 0.5 x 1 + 0.25 x 2 + 0.125 x 4 = 1.5 s of backoff with it, so the work ratio is
/// 1.0225 / 2.5225 = 0.405 (measured 0.40). Asserted: below 0.8 (the claim), and within 0.03 of
/// the closed form: about 12 000 cycles with backoff and 30 000 without give the ratio a relative
/// standard deviation near 1 % (0.004), so 0.03 is over 5 standard deviations.
///
/// Open: exponential backoff draws no random numbers, so both runs have the same arrivals
/// (asserted); attempts per invocation are (1 - 0.5^4) / (1 - 0.5) = 1.875 either way, and only
/// the failure draws differ. About 30 000 invocations, each with attempts of standard deviation
/// 1.05, give the total a standard deviation of 0.33 % per run, 0.46 % for the difference: the
/// 2 % tolerance is over 4 standard deviations, while a real effect of backoff on open work
/// would have to be below 2 % to pass (measured 0.35 %). The 60 s drain lets every retry
/// scheduled before the end of arrivals (at most 7 s of backoff) happen.
#[test]
fn backoff_reduces_work_for_closed_loops_only() {
    let with = run(OPEN_CLOSED, &[]);
    let without = run(OPEN_CLOSED, &["workload[0].client.retry.backoff.strategy=none", "workload[1].client.retry.backoff.strategy=none"]);
    let (cw, ow, ciw, oiw) = work(&with);
    let (cn, on, cin, oin) = work(&without);
    println!("                    backoff    none      ratio");
    println!("closed: requests   {cw:>8}  {cn:>8}  {:.3}   (invocations {ciw} / {cin})", cw / cn);
    println!("open:   requests   {ow:>8}  {on:>8}  {:.3}   (invocations {oiw} / {oin})", ow / on);
    let closed_ratio = cw / cn;
    assert!(closed_ratio < 0.8, "backoff should cut closed-loop work: {closed_ratio}");
    assert!((closed_ratio - 1.0225 / 2.5225).abs() < 0.03, "closed-loop work ratio {closed_ratio} vs closed form 0.405");
    assert_eq!(oiw, oin, "open arrivals do not depend on the client's backoff");
    let open_ratio = ow / on;
    assert!((open_ratio - 1.0).abs() < 0.02, "open-loop work should not change with backoff: {open_ratio}");
    // Attempts per open invocation match the closed form with and without backoff.
    for (w, n) in [(ow, oiw), (on, oin)] {
        assert!((w / n as f64 - 1.875).abs() < 0.03, "{} attempts per open invocation", w / n as f64);
    }
}

// ---- 4. the seed incident with the thread's retry advice -----------------------------------------

const SEED: &str = "models/seed-incident.toml";
const ADVICE: &str = "models/seed-with-retry-advice.toml";
const ADVICE_OVERRIDE: &str = "webhook.token_endpoint.retry={ preset = \"seed-thread\" }";

/// The advice file is the seed plus the advice, nothing else (it is a copy; this keeps it so).
#[test]
fn advice_model_is_the_seed_plus_the_advice() {
    let mut a = run(ADVICE, &[]);
    let mut b = run(SEED, &[ADVICE_OVERRIDE]);
    a.model.clear();
    b.model.clear();
    assert_eq!(a, b, "models/seed-with-retry-advice.toml drifted from models/seed-incident.toml");
}

/// One row of a CSV trace (the fields used here).
struct Row<'a> {
    t: u64,
    event: &'a str,
    component: &'a str,
    org: &'a str,
    invocation: &'a str,
    attempt: &'a str,
    detail: &'a str,
}

fn rows(trace: &str) -> Vec<Row<'_>> {
    trace
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.splitn(9, ',').collect();
            Row { t: f[0].parse().unwrap(), event: f[1], component: f[2], org: f[3], invocation: f[5], attempt: f[6], detail: f.get(8).copied().unwrap_or("") }
        })
        .collect()
}

fn refresh_token(detail: &str) -> Option<&str> {
    detail.split_whitespace().find_map(|w| w.strip_prefix("rt="))
}

/// The mechanism, in the trace of the advice model (seed 7): B's first refresh times out at the
/// webhook's client, the token endpoint still rotates the token (the rotation is lost), and the
/// retry, 2 s after the timeout, presents the same refresh token, read from the cache that never
/// saw the rotation. The retry may leave before or after the orphaned rotation (both happen
/// across seeds and grace settings); either way it is processed after it, so it presents a token
/// already rotated away. With Okta's 30 s grace the endpoint forgives it (grace reuse, current
/// pair returned); without a grace window the same retry is a reuse and the family is revoked.
#[test]
fn retried_refresh_resends_the_stale_refresh_token() {
    for (grace, expect) in [("30s", "grace_reuse"), ("0", "reuse_detected")] {
        let (_, trace) = run_traced(load(ADVICE, &[&format!("idp.grace={grace}")]), None);
        let rows = rows(&trace);
        let b: Vec<&Row> = rows.iter().filter(|r| r.org == "B").collect();
        let timeout = b.iter().position(|r| r.event == "try_timeout" && r.component == "idp").expect("B's refresh timed out");
        let inv = b[timeout].invocation;
        let stale = refresh_token(b[timeout].detail).unwrap();
        let rotated = b.iter().position(|r| r.event == "refresh_token_rotated" && r.invocation == inv && r.attempt == "1").expect("the timed-out try rotated");
        assert!(b.iter().any(|r| r.event == "rotation_lost" && r.invocation == inv));
        let retry = b
            .iter()
            .position(|r| r.event == "attempt_sent" && r.component == "idp" && r.invocation == inv && r.attempt == "2")
            .expect("the refresh was retried");
        assert_eq!(refresh_token(b[retry].detail), Some(stale), "the retry re-sends the refresh token that was rotated away");
        let outcome = b[retry..]
            .iter()
            .find(|r| {
                r.invocation == inv && r.attempt == "2" && (r.event == "grace_reuse" || r.event == "reuse_detected" || r.event == "refresh_token_rotated")
            })
            .unwrap();
        println!(
            "grace {grace}: try 1 rt={stale} timed out at {:.1} s, rotated at {:.1} s; try 2 sent at {:.1} s with rt={stale}, processed at {:.1} s: {}",
            b[timeout].t as f64 / 1e6,
            b[rotated].t as f64 / 1e6,
            b[retry].t as f64 / 1e6,
            outcome.t as f64 / 1e6,
            outcome.event
        );
        assert!(outcome.t > b[rotated].t, "the retry is processed after the timed-out try rotated its token");
        assert_eq!(outcome.event, expect);
        if expect == "reuse_detected" {
            assert!(b.iter().any(|r| r.event == "family_revoked" && r.t >= outcome.t));
        }
    }
}

/// Time (s) of org B's first family revocation, from a trace (summary.first_revocation_at_s only
/// sees families still revoked at the end of the run).
fn b_revoked_at(path: &str, overrides: &[&str], seed: u64) -> Option<f64> {
    let (_, trace) = run_traced(load(path, overrides), Some(seed));
    rows(&trace).iter().find(|r| r.event == "family_revoked" && r.org == "B").map(|r| r.t as f64 / 1e6)
}

/// P(B's authorization is revoked) over seeds 1..20, with and without the thread's advice, under
/// two grace policies. Twenty seeds give P in steps of 0.05; the assertions below are about
/// differences of at least 0.4 or about every paired seed, not about small shifts.
///
/// - No grace window (RFC 9700 s4.14.2, Auth0 with a zero reuse interval): the retried refresh is
///   itself the reuse. Revoked in every run with the advice (P >= without, asserted), and never
///   later: up to the first timed-out refresh the paired runs are identical (the exponential
///   backoff draws no random numbers), and the advice revokes at that refresh's retry, while
///   without it the revocation waits for B's next call. Asserted per seed: t(advice) <= t(seed).
/// - Okta's 30 s grace (the seed model as written): the retry, 10 s after the lost rotation,
///   usually lands inside the window and heals the cache; B is then revoked only when the chain
///   of retries outlasts the window or in a later incident. Measured 12/20 against 20/20; asserted:
///   P(advice) < P(seed). The advice does not make this incident more likely here; it makes it
///   less likely and, when it still happens, often sooner.
#[test]
fn thread_advice_and_the_revocation_across_seeds() {
    let seeds = 1..=20u64;
    for (grace, name) in [("0", "no grace (RFC 9700)"), ("30s", "Okta 30 s grace (seed)")] {
        let g = format!("idp.grace={grace}");
        let without: Vec<Option<f64>> = seeds.clone().map(|s| b_revoked_at(SEED, &[&g], s)).collect();
        let with: Vec<Option<f64>> = seeds.clone().map(|s| b_revoked_at(ADVICE, &[&g], s)).collect();
        let show = |v: &[Option<f64>]| v.iter().map(|t| t.map(|t| format!("{t:.0}")).unwrap_or("-".into())).collect::<Vec<_>>().join(" ");
        let p = |v: &[Option<f64>]| v.iter().filter(|t| t.is_some()).count() as f64 / v.len() as f64;
        let (pw, pn) = (p(&with), p(&without));
        println!("{name}: P(B revoked) without advice {pn:.2}, with advice {pw:.2}");
        println!("  B revoked at (s), seeds 1..20, without: {}", show(&without));
        println!("  B revoked at (s), seeds 1..20, with:    {}", show(&with));
        if grace == "0" {
            assert!(pw >= pn, "{name}: P with advice {pw} < without {pn}");
            for (i, (w, n)) in with.iter().zip(&without).enumerate() {
                if let Some(n) = n {
                    let w = w.unwrap_or_else(|| panic!("seed {}: revoked without the advice but not with it", i + 1));
                    assert!(w <= *n, "seed {}: revoked later with the advice ({w} s) than without ({n} s)", i + 1);
                }
            }
        } else {
            assert!(pw < pn, "{name}: expected the grace window to absorb the retried refresh ({pw} vs {pn})");
        }
    }
}
