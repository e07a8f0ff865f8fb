//! edgesim: a deterministic discrete-event simulator of the path an HTTP call takes through an
//! edge proxy, intermediate proxies, a webhook service and an OAuth token endpoint.
//!
//! - [`engine`]: time, the event queue, random streams, distributions, limits. Knows nothing of
//!   HTTP or OAuth.
//! - [`model`]: the components (one file each) and the world that wires them.
//! - [`scenario`]: model files (TOML), presets, validation, overrides.
//! - [`analysis`]: closed forms the simulator is checked against.
pub mod analysis;
pub mod check;
pub mod engine;
pub mod explain;
pub mod expr;
pub mod model;
pub mod replay;
pub mod report;
pub mod scenario;
pub mod sweep;
pub mod testing;

use model::metrics::Summary;
use model::world::{RunError, RunOptions, Sim};

/// Runs a model once and returns its summary and its causal graph (for `explain`).
pub fn run_explained(model: model::config::Model, mut opts: RunOptions) -> Result<(Summary, model::causes::CauseLog), RunError> {
    let (sim, sched) = Sim::build(model, &mut opts)?;
    sim.run_with_causes(sched)
}

/// Runs a model once and returns its summary.
pub fn run(model: model::config::Model, mut opts: RunOptions) -> Result<Summary, RunError> {
    let (sim, sched) = Sim::build(model, &mut opts)?;
    sim.run(sched)
}
