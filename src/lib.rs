//! terraform-provider-largek8s: the library behind the provider binary.

pub mod arm;
pub mod functions;
pub mod layout;
pub mod lb_layout;
pub mod plugin;
pub mod provider;
pub mod resources;
pub mod tf;
