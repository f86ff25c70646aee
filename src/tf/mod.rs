//! Terraform type system.
