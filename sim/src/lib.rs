//! `largek8s-sim`: Azure Resource Manager on loopback, with Azure's rules, long-running operations, throttling and a
//! control API for tests. See the crate README for the contract.

pub mod api_versions;
pub mod arm;
pub mod auth;
pub mod cidr;
pub mod clock;
pub mod config;
pub mod control;
pub mod entropy;
pub mod error;
pub mod faults;
pub mod http;
pub mod ids;
pub mod lro;
pub mod persist;
pub mod rules;
pub mod seed;
pub mod server;
pub mod sim;
pub mod stats;
pub mod store;
pub mod throttle;

pub use config::{Cli, Config};
pub use server::{start, Running};
