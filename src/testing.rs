//! Property tests of your own models, with proptest: strategies for cases (seeds, load
//! multipliers, bursts, fault windows, setting ranges), a helper that runs a case, and
//! assertions over the summary. A failing case shrinks to a minimal one, is printed with the
//! `edgesim run` command that replays it, and is kept by proptest in
//! `proptest-regressions/` next to your test's source directory (its default
//! `FileFailurePersistence`; for a test in `tests/integration/x.rs` of a one-binary suite whose
//! `main.rs` is in `tests/integration/`, that is `tests/proptest-regressions/x.txt`). Commit the
//! file: the case runs first on every later run.
//!
//! ```no_run
//! use edgesim::testing::{self, Case, TestModel};
//! use proptest::prelude::*;
//!
//! proptest! {
//!     #![proptest_config(ProptestConfig::with_cases(32))]
//!     #[test]
//!     fn single_flight_refresh_never_revokes_a_family(
//!         seed in testing::seeds(1, 1_000_000),
//!         load in testing::load(0.5, 3.0),
//!     ) {
//!         let model = TestModel::load("models/healthy.toml").unwrap();
//!         let case = Case { seed, load: Some(load), ..Case::default() };
//!         let summary = model.run(&case)?;
//!         testing::assert_property(&summary, "no-family-revocation")?;
//!         testing::assert_property(&summary, "latency.p99_ms < 20000")?;
//!     }
//! }
//! ```
//!
//! A model file's `[check]` table declares a space of cases; [`TestModel::cases`] draws from it.

use crate::check::runner::{Checker, Outcome};
use crate::check::spec::RawSpace;
use crate::model::metrics::Summary;
use proptest::strategy::BoxedStrategy;
use proptest::test_runner::TestCaseError;
use std::path::{Path, PathBuf};

pub use crate::check::case::{burst, cases, duration, fault_window, load, milli, seeds, setting};
pub use crate::check::{BurstCase, BurstRange, Case, CaseSpace, FaultCase, FaultKind, FaultRange, Milli, Property, SettingRange, SettingValues};

/// A model given as a file path or as TOML text.
#[derive(Clone, Debug)]
pub enum ModelSource {
    Path(PathBuf),
    Text(String),
}

/// A one-line string ending in `.toml` is a path; anything else is the model's text.
impl From<&str> for ModelSource {
    fn from(s: &str) -> Self {
        if !s.contains('\n') && s.trim_end().ends_with(".toml") {
            ModelSource::Path(PathBuf::from(s.trim()))
        } else {
            ModelSource::Text(s.to_string())
        }
    }
}
impl From<String> for ModelSource {
    fn from(s: String) -> Self {
        ModelSource::from(s.as_str())
    }
}
impl From<&Path> for ModelSource {
    fn from(p: &Path) -> Self {
        ModelSource::Path(p.to_path_buf())
    }
}
impl From<PathBuf> for ModelSource {
    fn from(p: PathBuf) -> Self {
        ModelSource::Path(p)
    }
}
impl From<&PathBuf> for ModelSource {
    fn from(p: &PathBuf) -> Self {
        ModelSource::Path(p.clone())
    }
}

/// A model loaded once for many cases, with the space and properties of its `[check]` table.
pub struct TestModel {
    checker: Checker,
}

impl TestModel {
    /// Loads a model (file or text); `[check]`, if present, gives [`TestModel::space`] and
    /// [`TestModel::properties`].
    pub fn load(src: impl Into<ModelSource>) -> Result<TestModel, String> {
        let checker = match src.into() {
            ModelSource::Path(p) => Checker::from_file(&p, &[], RawSpace::default()),
            ModelSource::Text(t) => Checker::from_text(&t, "<model text>", &[], RawSpace::default()),
        }
        .map_err(|e| e.to_string())?;
        Ok(TestModel { checker })
    }

    /// The model (without any case applied).
    pub fn model(&self) -> &crate::model::config::Model {
        &self.checker.model
    }

    /// The space of the `[check]` table (seeds 1..1 000 000 and nothing else without one).
    pub fn space(&self) -> &CaseSpace {
        &self.checker.space
    }

    /// The `[check]` table's properties.
    pub fn properties(&self) -> &[Property] {
        &self.checker.properties
    }

    /// Cases drawn from [`TestModel::space`].
    pub fn cases(&self) -> BoxedStrategy<Case> {
        cases(&self.checker.space)
    }

    /// The model of a case, to run with your own `RunOptions` (a trace, a time series); the
    /// case's seed is `case.seed`.
    pub fn load_case(&self, case: &Case) -> Result<crate::model::config::Model, String> {
        self.checker.load_case(case)
    }

    /// Runs a case. A model the case makes invalid, a run stopped at a limit, or a panic, fails
    /// the test case with the command that replays it.
    pub fn run(&self, case: &Case) -> Result<Summary, TestCaseError> {
        match self.checker.run_case(case) {
            Outcome::Ran(s) => Ok(*s),
            Outcome::Invalid(e) => Err(TestCaseError::fail(format!("the case gives an invalid model: {e}"))),
            Outcome::Stopped(e) => Err(TestCaseError::fail(format!("the run stopped: {e}\nreplay: {}", self.replay_command(case)))),
            Outcome::Panicked(e) => Err(TestCaseError::fail(format!("edgesim panicked: {e}\nreplay: {}", self.replay_command(case)))),
        }
    }

    /// Runs a case and checks one property; the failure names the case and its replay command.
    pub fn check(&self, case: &Case, property: &str) -> Result<Summary, TestCaseError> {
        let s = self.run(case)?;
        let p = Property::parse(property).map_err(TestCaseError::fail)?;
        p.check(&s).map_err(|why| TestCaseError::fail(format!("{} violated: {why}\ncase: {case}\nreplay: {}", p.name(), self.replay_command(case))))?;
        Ok(s)
    }

    /// `edgesim run MODEL --seed N --set ...` for a case.
    pub fn replay_command(&self, case: &Case) -> String {
        self.checker.replay_command(case)
    }

    /// The `--set` overrides of a case, as `path=value`.
    pub fn overrides(&self, case: &Case) -> Result<Vec<String>, String> {
        Ok(self.checker.overrides(case)?.into_iter().map(|o| format!("{}={}", o.path, o.value)).collect())
    }
}

/// Runs one case of a model (a file path or TOML text). Panics with the reason (and the replay
/// command) if the model or the case is invalid or the run stops: meant for tests.
pub fn run_case(model: impl Into<ModelSource>, case: &Case) -> Summary {
    let m = TestModel::load(model).unwrap_or_else(|e| panic!("{e}"));
    m.run(case).unwrap_or_else(|e| panic!("{e}"))
}

/// Checks a property (built-in or predicate, as for `edgesim check --property`) against a
/// summary; use with `?` inside `proptest!`.
pub fn assert_property(summary: &Summary, property: &str) -> Result<(), TestCaseError> {
    let p = Property::parse(property).map_err(TestCaseError::fail)?;
    p.check(summary).map(|_| ()).map_err(|why| TestCaseError::fail(format!("{} violated: {why}", p.name())))
}
