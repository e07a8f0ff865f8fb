//! edgesim's integration tests: one test binary, one file per behaviour.

mod amplification;
mod backoff_dynamics;
mod bad_models;
mod check;
mod determinism;
mod explain;
mod faults;
mod idempotency;
mod invariants;
mod keepalive;
mod queueing;
mod replay;
mod report;
mod seed_incident;
mod sweep;

/// Path of a file in the repository.
pub fn repo(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Loads a model file with overrides (`path=value`).
pub fn load(path: &str, overrides: &[&str]) -> edgesim::model::config::Model {
    let ov: Vec<_> = overrides.iter().map(|o| edgesim::scenario::Override::parse(o).unwrap()).collect();
    edgesim::scenario::load_file(&repo(path), &ov).unwrap_or_else(|e| panic!("{e}")).model
}
