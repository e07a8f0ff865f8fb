//! The discrete-event engine. It knows nothing of HTTP or OAuth: it schedules events in integer
//! simulated time, hands out one random stream per component, samples distributions and enforces
//! limits. Everything domain-specific lives in `crate::model`.

pub mod dist;
pub mod limits;
pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;

pub use dist::Dist;
pub use limits::{LimitExceeded, Limits};
pub use queue::EventQueue;
pub use rng::{component_rng, derive_seed, ComponentRng};
pub use sim::{Scheduler, World};
pub use time::{parse_duration, SimDuration, SimTime};
