//! ARM simulator.
