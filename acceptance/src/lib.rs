//! Acceptance test harness.
