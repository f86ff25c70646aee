//! Helpers shared by the ARM integration tests and bench.

pub mod sim;
