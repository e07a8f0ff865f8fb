//! Property checks: evaluate safety and liveness properties over generated variations of a model
//! (seeds, load multipliers, burst sizes and times, fault windows, settings), and shrink a
//! violation to a minimal case that `edgesim run MODEL --seed N --set ...` replays.
//!
//! - [`case`]: a case, the space cases come from, proptest strategies, the overrides of a case.
//! - [`spec`]: the `[check]` table of a model file and the command line's ranges.
//! - [`property`]: built-in properties and predicates; [`expr`] parses predicates.
//! - [`runner`]: proptest's `TestRunner` over the cases, shrinking, the text report.
//! - [`junit`]: JUnit XML for CI.
//! - [`cli`]: `edgesim check`.
//!
//! [`crate::testing`] exposes the same pieces for users' own `proptest!` tests.

pub mod case;
pub mod cli;
pub use crate::expr;
pub mod junit;
pub mod property;
pub mod runner;
pub mod spec;

pub use case::{BurstCase, BurstRange, Case, CaseSpace, FaultCase, FaultKind, FaultRange, Milli, SettingRange, SettingValues};
pub use cli::{main, CheckArgs};
pub use property::Property;
pub use runner::{CheckError, CheckOptions, Checker, Outcome, PropertyReport, Verdict};
pub use spec::{split_check, RawSpace};
