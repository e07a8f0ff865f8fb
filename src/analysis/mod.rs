//! Closed-form results the simulator is checked against (queueing theory, retry amplification).
pub mod queueing;
