//! Terraform's type system: values and their wire codecs, schemas, diagnostics with attribute paths,
//! and the provider interface. Knows nothing of Azure.

pub mod decode;
pub mod diagnostics;
pub mod function;
pub mod json;
pub mod msgpack;
pub mod number;
pub mod path;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod types;
pub mod value;

pub use number::Number;
pub use path::{AttributePath, PathStep};
pub use types::Type;
pub use value::{NumberBound, Refinements, Value, ValueError};
