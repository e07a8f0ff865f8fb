//! Retry amplification against its closed forms, and retry budgets capping it.

use edgesim::analysis::queueing::{layered_amplification, retry_attempts_per_request};
use edgesim::model::world::RunOptions;

fn run(text: &str, overrides: &[&str]) -> edgesim::model::metrics::Summary {
    let ov: Vec<_> = overrides.iter().map(|o| edgesim::scenario::Override::parse(o).unwrap()).collect();
    let model = edgesim::scenario::load_str(text, "amplification.toml", &ov).unwrap_or_else(|e| panic!("{e}"));
    edgesim::run(model, RunOptions::default()).unwrap()
}

fn service_requests(s: &edgesim::model::metrics::Summary) -> f64 {
    let c = s.components.iter().find(|c| c.component == "svc").unwrap();
    c.requests as f64 / s.invocations as f64
}

const FLAT: &str = r#"
[simulation]
duration = "2000s"
drain = "60s"
seed = 11
[[org]]
name = "A"
[components.svc]
kind = "service"
workers = 100000
queue_capacity = 0
service_time = "1ms"
failure_rate = 0.5
failure_status = 503
[[workload]]
org = "A"
target = "svc"
arrivals = { kind = "poisson", rate = 10.0 }
client = { retry = { max_attempts = 3, retry_on = [503] } }
"#;

/// Attempts per request with independent failure probability p and n attempts is
/// (1 - p^n) / (1 - p). About 20 000 invocations; the per-invocation attempt count has standard
/// deviation below 1.2 for these cases, so the standard error is below 0.009 and 5 standard
/// errors (0.045) fail a correct model with probability < 1e-6, while a retry count off by one
/// attempt moves the mean by at least 0.06.
#[test]
fn attempts_per_request_closed_form() {
    for (p, n) in [(0.1, 3u32), (0.5, 3), (0.5, 5), (0.9, 4), (1.0, 3)] {
        let s = run(FLAT, &[&format!("svc.failure_rate={p}"), &format!("workload[0].client.retry.max_attempts={n}")]);
        let got = service_requests(&s);
        let want = retry_attempts_per_request(p, n);
        assert!((got - want).abs() < 0.045, "p={p} n={n}: {got} attempts per request, closed form {want}");
    }
}

const LAYERED: &str = r#"
[simulation]
duration = "200s"
drain = "120s"
seed = 3
[[org]]
name = "A"
[components.edge]
kind = "edge"
deadline = "60s"
upstream = { target = "p1", retry = { max_attempts = 3, retry_on = [503] } }
[components.p1]
kind = "proxy"
upstream = { target = "p2", retry = { max_attempts = 3, retry_on = [503] } }
[components.p2]
kind = "proxy"
upstream = { target = "svc", retry = { max_attempts = 3, retry_on = [503] } }
[components.svc]
kind = "service"
workers = 100000
queue_capacity = 0
service_time = "1ms"
failure_rate = 1.0
failure_status = 503
[[workload]]
org = "A"
target = "edge"
arrivals = { kind = "poisson", rate = 5.0 }
"#;

/// Three layers of three tries when everything fails: exactly 27 requests reach the bottom per
/// invocation (deterministic: no tolerance needed).
#[test]
fn layered_retries_multiply() {
    let s = run(LAYERED, &[]);
    assert!(s.invocations > 500);
    assert_eq!(service_requests(&s), 27.0);
    assert_eq!(layered_amplification(1.0, &[3, 3, 3]), 27.0);
    // With the middle layer not retrying: 9.
    let s = run(LAYERED, &["p1.upstream.retry.max_attempts=1"]);
    assert_eq!(service_requests(&s), 9.0);
}

/// A token-bucket budget (the AWS SDK quota: 500 tokens, 5 per retry, nothing refunded while
/// everything fails) allows exactly 100 retries over the whole run, so amplification tends to 1.
#[test]
fn token_bucket_budget_caps_amplification() {
    let s = run(FLAT, &["svc.failure_rate=1.0", "workload[0].client.retry_budget.kind=token-bucket"]);
    let got = service_requests(&s);
    let want = 1.0 + 100.0 / s.invocations as f64;
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    let unbudgeted = service_requests(&run(FLAT, &["svc.failure_rate=1.0"]));
    assert_eq!(unbudgeted, 3.0);
}

/// A ratio budget of 10 % (the SRE book's per-client rule, as Envoy's budget_percent) holds
/// retries in flight to a tenth of requests in flight. Each request is in flight 100 ms
/// (50 ms each way), 10 000 arrive per second, so about 1 000 first tries are in flight and
/// retries settle near 111 (R = 0.1 (1000 + R)): about 1.11 requests per invocation, against 3
/// without the budget. The bounds [1.05, 1.2] leave room for the discrete floor() in the rule.
#[test]
fn ratio_budget_caps_amplification_near_one_point_one() {
    let s = run(
        FLAT,
        &[
            "svc.failure_rate=1.0",
            "simulation.duration=20s",
            "workload[0].arrivals.rate=10000",
            "workload[0].client.latency=50ms",
            "workload[0].client.retry_budget.kind=ratio",
            "workload[0].client.retry_budget.percent=10",
            "workload[0].client.retry_budget.min_concurrency=0",
        ],
    );
    let got = service_requests(&s);
    assert!((1.05..1.2).contains(&got), "ratio budget amplification {got}");
}

/// The Genesys platform API preset: 300 requests per minute per token, 429 with Retry-After.
/// 10 requests/s for one org (one token family) is 600 a minute: about half get 429 once the
/// bucket's first minute is spent.
#[test]
fn genesys_platform_api_preset_rate_limits_per_token() {
    let m = crate::load("models/healthy.toml", &["api.preset=genesys-platform-api", "simulation.duration=10m", "workload[0].arrivals.rate=10"]);
    let s = edgesim::run(m, RunOptions::default()).unwrap();
    let api = s.components.iter().find(|c| c.component == "api").unwrap();
    let share = api.rate_limited as f64 / api.requests as f64;
    // Org A: 600 s at 10/s = ~6000 requests, 300 + 5/s x 600 s = 3300 allowed; orgs B and C
    // (their own tokens, ~130 requests) are never limited: ~44 % of all API requests limited.
    assert!((0.40..0.50).contains(&share), "{} of {} limited ({share:.3})", api.rate_limited, api.requests);
}
