//! terraform-provider-largek8s: the library behind the provider binary.

pub mod arm;
pub mod layout;
pub mod tf;
