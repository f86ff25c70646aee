//! Terraform type system.

pub mod json;
pub mod msgpack;
pub mod number;
pub mod path;
pub mod types;
pub mod value;

pub use number::Number;
pub use path::{AttributePath, PathStep};
pub use types::Type;
pub use value::{NumberBound, Refinements, Value, ValueError};
