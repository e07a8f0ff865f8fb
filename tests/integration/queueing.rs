//! probe (being written)
use crate::load;
use edgesim::model::world::RunOptions;

#[test]
fn queueing_probe() {
    for (file, rate) in [("models/mm1.toml", 0.8), ("models/md1.toml", 0.8), ("models/mmc.toml", 3.2), ("models/mmck.toml", 2.0)] {
        let t = std::time::Instant::now();
        let m = load(file, &[&format!("workload[0].arrivals.rate={rate}"), "simulation.duration=1000000s"]);
        let s = edgesim::run(m, RunOptions { seed: Some(1), ..Default::default() }).unwrap();
        eprintln!("{file}: {:?} inv={} unfinished={} wq={} lat={:?} rej={} events={} maxq={}", t.elapsed(), s.invocations, s.invocations_unfinished, s.mean_queue_wait_ms, s.latency, s.queue_full_rejections, s.events, s.max_queue_len);
    }
}
