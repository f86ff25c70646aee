//! Terraform values (cty values): known, null and unknown, with cty's refinements of unknowns.

use std::collections::BTreeMap;
use std::fmt;

use super::number::Number;
use super::path::AttributePath;
use super::types::Type;

/// A value that cannot be decoded or encoded as the type asks, and where in the value that happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValueError {
    pub message: String,
    pub path: AttributePath,
}

impl ValueError {
    pub fn new(message: impl Into<String>) -> ValueError {
        ValueError {
            message: message.into(),
            path: AttributePath::root(),
        }
    }

    pub fn at(path: AttributePath, message: impl Into<String>) -> ValueError {
        ValueError {
            message: message.into(),
            path,
        }
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_root() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// One end of the range an unknown number is known to lie in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberBound {
    pub value: Number,
    pub inclusive: bool,
}

/// What Terraform already knows about a value it does not know yet (cty's refinements).
/// Which ones apply depends on the type: prefixes to strings, bounds to numbers, lengths to lists, sets, maps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refinements {
    pub not_null: bool,
    pub string_prefix: Option<String>,
    pub number_lower: Option<NumberBound>,
    pub number_upper: Option<NumberBound>,
    pub length_lower: Option<u64>,
    pub length_upper: Option<u64>,
}

impl Refinements {
    /// Whether nothing is known, i.e. this is a plain unknown.
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }
}

/// A Terraform value. Its type is not stored: codecs are directed by the schema's [`Type`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// Boxed: most values are known, and an inline `Refinements` would make every value five times larger.
    Unknown(Box<Refinements>),
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value at a dynamically typed position, with the concrete type it was sent with, so that it
    /// re-encodes identically. The type is boxed for the same reason as the refinements.
    Dynamic(Box<Type>, Box<Value>),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn number(n: impl Into<Number>) -> Value {
        Value::Number(n.into())
    }

    /// An unknown value with no refinements.
    pub fn unknown() -> Value {
        Value::Unknown(Box::default())
    }

    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Object(attrs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn map<K: Into<String>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    pub fn list(elements: impl IntoIterator<Item = Value>) -> Value {
        Value::List(elements.into_iter().collect())
    }

    /// The value itself, looking through a dynamic wrapper.
    fn concrete(&self) -> &Value {
        match self {
            Value::Dynamic(_, inner) => inner.concrete(),
            other => other,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.concrete(), Value::Null)
    }

    /// Whether the value itself is known (its parts may still be unknown).
    pub fn is_known(&self) -> bool {
        !matches!(self.concrete(), Value::Unknown(_))
    }

    /// Whether the value and everything inside it is known.
    pub fn is_fully_known(&self) -> bool {
        match self.concrete() {
            Value::Unknown(_) => false,
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => {
                elements.iter().all(Value::is_fully_known)
            }
            Value::Map(entries) | Value::Object(entries) => {
                entries.values().all(Value::is_fully_known)
            }
            _ => true,
        }
    }

    /// An attribute of an object value.
    pub fn get(&self, attr: &str) -> Option<&Value> {
        match self.concrete() {
            Value::Object(attrs) => attrs.get(attr),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self.concrete() {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.concrete() {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self.concrete() {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The elements of a list, set or tuple.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self.concrete() {
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => Some(elements),
            _ => None,
        }
    }

    /// The entries of a map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self.concrete() {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// A short name of what kind of value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown(_) => "unknown",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
            Value::Dynamic(..) => "dynamically typed value",
        }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_look_through_dynamic_wrappers() {
        let wrapped = Value::Dynamic(Box::new(Type::String), Box::new(Value::string("x")));
        assert_eq!(wrapped.as_str(), Some("x"));
        let null = Value::Dynamic(Box::new(Type::String), Box::new(Value::Null));
        assert!(null.is_null());
        let unknown = Value::Dynamic(Box::new(Type::Number), Box::new(Value::unknown()));
        assert!(!unknown.is_known());
    }

    #[test]
    fn fully_known_checks_every_part() {
        let value = Value::object([
            ("a", Value::string("x")),
            ("b", Value::list([Value::number(1i64), Value::unknown()])),
        ]);
        assert!(value.is_known());
        assert!(!value.is_fully_known());
        assert_eq!(value.get("a").and_then(Value::as_str), Some("x"));
        assert_eq!(
            value.get("b").and_then(Value::as_list).map(<[_]>::len),
            Some(2)
        );
        assert!(value.get("c").is_none());
    }

    #[test]
    fn a_value_is_no_larger_than_a_number() {
        // A pool's state holds tens of thousands of values; rare, large variants stay boxed.
        assert!(std::mem::size_of::<Value>() <= std::mem::size_of::<Number>() + 8);
    }

    #[test]
    fn error_message_names_the_path() {
        let error = ValueError::at(
            AttributePath::root().attr("sets").index(2),
            "number is required",
        );
        assert_eq!(error.to_string(), "sets[2]: number is required");
        assert_eq!(ValueError::new("bad").to_string(), "bad");
    }
}
