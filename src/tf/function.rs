//! Provider-defined function signatures and their errors.

use crate::tf::types::Type;

#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub name: String,
    pub ty: Type,
    pub allow_null: bool,
    pub allow_unknown: bool,
    /// Markdown.
    pub description: String,
}

impl Parameter {
    pub fn new(name: &str, ty: Type, description: impl Into<String>) -> Self {
        Parameter {
            name: name.to_string(),
            ty,
            allow_null: false,
            allow_unknown: false,
            description: description.into(),
        }
    }
}

/// A function's signature and documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub parameters: Vec<Parameter>,
    pub return_type: Type,
    pub summary: String,
    /// Markdown.
    pub description: String,
}

/// A function call's failure; `argument` is the zero-based position of the argument at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub text: String,
    pub argument: Option<i64>,
}

impl FunctionError {
    pub fn new(text: impl Into<String>) -> Self {
        FunctionError {
            text: text.into(),
            argument: None,
        }
    }

    pub fn at_argument(text: impl Into<String>, index: usize) -> Self {
        FunctionError {
            text: text.into(),
            argument: i64::try_from(index).ok(),
        }
    }
}
