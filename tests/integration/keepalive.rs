//! Keep-alive 502s behind an ALB follow from the timing, not from a fixed probability.

use crate::load;
use edgesim::model::world::RunOptions;

fn run(overrides: &[&str]) -> edgesim::model::metrics::Summary {
    edgesim::run(load("models/alb-keepalive-502.toml", overrides), RunOptions::default()).unwrap()
}

fn resets(s: &edgesim::model::metrics::Summary) -> u64 {
    s.components.iter().find(|c| c.component == "alb").unwrap().keepalive_resets
}

/// At 0.2 requests/s one connection serves almost every request, and a request meets a closed
/// socket when the gap since the connection's last use falls within one network latency (d =
/// 50 ms) either side of the server's keep-alive timeout (ka). The gap is the inter-arrival time A
/// minus the time the previous request held the connection (b = 2d + 10 ms service), so
/// P(reset) = P(A in [ka - d + b, ka + d + b)) = e^{-λ(ka-d+b)} - e^{-λ(ka+d+b)}.
/// Over ~28 500 requests the count is Poisson-like with sd = sqrt(mean) ≈ 14; 4 sd is the
/// tolerance. A fixed-probability model, or a window of the wrong width (one latency instead of
/// two), misses by 100 or more.
#[test]
fn reset_rate_matches_the_timing_closed_form() {
    for ka in [3.0f64, 5.0, 8.0] {
        let s = run(&[&format!("alb.keep_alive.upstream_keep_alive={ka}s")]);
        let (lambda, d, b) = (0.2f64, 0.05f64, 0.11f64);
        let p = (-lambda * (ka - d + b)).exp() - (-lambda * (ka + d + b)).exp();
        let expected = p * s.invocations as f64;
        let got = resets(&s) as f64;
        assert!((got - expected).abs() < 4.0 * expected.sqrt(), "ka={ka}: {got} resets, expected {expected:.1}");
        assert_eq!(s.outcomes.get("502").copied().unwrap_or(0) as f64, got, "each reset is a 502 at the client");
    }
}

/// The documented fix: a server keep-alive longer than the ALB's idle timeout. No resets.
#[test]
fn server_keepalive_above_alb_idle_timeout_has_no_resets() {
    let s = run(&["alb.keep_alive.upstream_keep_alive=65s"]);
    assert_eq!(resets(&s), 0);
    assert_eq!(s.success_rate, 1.0);
}

/// A larger network latency widens the window and raises the rate.
#[test]
fn more_latency_more_resets() {
    let near = resets(&run(&["alb.upstream.latency=5ms"]));
    let far = resets(&run(&["alb.upstream.latency=100ms"]));
    assert!(far > 5 * near.max(1), "near {near}, far {far}");
}

/// A connection limit with requests waiting, and a connect timeout.
#[test]
fn connection_limit_and_connect_timeout() {
    let s = run(&["simulation.duration=1h", "workload[0].arrivals.rate=50", "alb.keep_alive.max_connections=2", "alb.keep_alive.max_pending=1"]);
    assert!(s.outcomes.get("503").copied().unwrap_or(0) > 0, "pool full answers 503: {:?}", s.outcomes);
    let t = run(&["simulation.duration=10m", "alb.keep_alive.connect_latency=20s", "alb.keep_alive.connect_timeout=1s"]);
    assert!(t.outcomes.get("504").copied().unwrap_or(0) > 0, "{:?}", t.outcomes);
}
