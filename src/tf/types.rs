//! Terraform's types (cty types) and their JSON encoding as schemas and function signatures carry it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value as Json;

use super::value::ValueError;

/// How deeply types may nest in input we decode; real schemas stay far below this.
pub(crate) const MAX_DEPTH: usize = 64;

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// cty's DynamicPseudoType: the concrete type travels with the value.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    /// `optional` names attributes that may be absent on the wire (decoded as null).
    Object {
        attrs: BTreeMap<String, Type>,
        optional: BTreeSet<String>,
    },
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// An object type whose attributes are all required.
    pub fn object<K: Into<String>>(attrs: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object {
            attrs: attrs.into_iter().map(|(k, t)| (k.into(), t)).collect(),
            optional: BTreeSet::new(),
        }
    }

    /// Lists, sets and maps: the types cty's length refinements apply to.
    pub fn is_collection(&self) -> bool {
        matches!(self, Type::List(_) | Type::Set(_) | Type::Map(_))
    }

    /// The JSON form Terraform uses, byte for byte as cty writes it (compact, keys sorted, Go's HTML-safe
    /// string escaping), so that a dynamic value we re-encode is identical to the one we read.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Type::Bool => out.extend_from_slice(b"\"bool\""),
            Type::Number => out.extend_from_slice(b"\"number\""),
            Type::String => out.extend_from_slice(b"\"string\""),
            Type::Dynamic => out.extend_from_slice(b"\"dynamic\""),
            Type::List(element) => write_wrapped(out, "list", element),
            Type::Set(element) => write_wrapped(out, "set", element),
            Type::Map(element) => write_wrapped(out, "map", element),
            Type::Object { attrs, optional } => {
                out.extend_from_slice(b"[\"object\",{");
                for (position, (name, ty)) in attrs.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    write_go_json_string(out, name);
                    out.push(b':');
                    ty.write_json(out);
                }
                out.push(b'}');
                if !optional.is_empty() {
                    out.extend_from_slice(b",[");
                    for (position, name) in optional.iter().enumerate() {
                        if position > 0 {
                            out.push(b',');
                        }
                        write_go_json_string(out, name);
                    }
                    out.push(b']');
                }
                out.push(b']');
            }
            Type::Tuple(elements) => {
                out.extend_from_slice(b"[\"tuple\",[");
                for (position, ty) in elements.iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    ty.write_json(out);
                }
                out.extend_from_slice(b"]]");
            }
        }
    }

    /// Parses the JSON form Terraform sends in schemas, function signatures and dynamic values.
    pub fn from_json(bytes: &[u8]) -> Result<Type, ValueError> {
        let json: Json = serde_json::from_slice(bytes)
            .map_err(|e| ValueError::new(format!("invalid type JSON: {e}")))?;
        Type::from_json_value(&json, 0)
    }

    pub(crate) fn from_json_value(json: &Json, depth: usize) -> Result<Type, ValueError> {
        if depth > MAX_DEPTH {
            return Err(ValueError::new(format!(
                "type nests deeper than {MAX_DEPTH} levels"
            )));
        }
        match json {
            Json::String(name) => match name.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(ValueError::new(format!("unknown primitive type {other:?}"))),
            },
            Json::Array(parts) => match parts.as_slice() {
                [Json::String(kind), element] if kind == "list" => {
                    Ok(Type::list(Type::from_json_value(element, depth + 1)?))
                }
                [Json::String(kind), element] if kind == "set" => {
                    Ok(Type::set(Type::from_json_value(element, depth + 1)?))
                }
                [Json::String(kind), element] if kind == "map" => {
                    Ok(Type::map(Type::from_json_value(element, depth + 1)?))
                }
                [Json::String(kind), Json::Array(elements)] if kind == "tuple" => elements
                    .iter()
                    .map(|e| Type::from_json_value(e, depth + 1))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Type::Tuple),
                [Json::String(kind), Json::Object(attrs)] if kind == "object" => {
                    object_from_json(attrs, &[], depth)
                }
                [Json::String(kind), Json::Object(attrs), Json::Array(optional)]
                    if kind == "object" =>
                {
                    object_from_json(attrs, optional, depth)
                }
                _ => Err(ValueError::new(format!("invalid type JSON {json}"))),
            },
            other => Err(ValueError::new(format!("invalid type JSON {other}"))),
        }
    }
}

fn object_from_json(
    attrs: &serde_json::Map<String, Json>,
    optional: &[Json],
    depth: usize,
) -> Result<Type, ValueError> {
    let attrs = attrs
        .iter()
        .map(|(name, ty)| Ok((name.clone(), Type::from_json_value(ty, depth + 1)?)))
        .collect::<Result<BTreeMap<_, _>, ValueError>>()?;
    let optional = optional
        .iter()
        .map(|name| match name {
            Json::String(name) if attrs.contains_key(name) => Ok(name.clone()),
            other => Err(ValueError::new(format!(
                "optional attribute {other} is not an attribute of the object type"
            ))),
        })
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok(Type::Object { attrs, optional })
}

fn write_wrapped(out: &mut Vec<u8>, kind: &str, element: &Type) {
    out.extend_from_slice(b"[\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",");
    element.write_json(out);
    out.push(b']');
}

/// Writes a JSON string as Go's encoding/json does (cty builds type JSON with it): besides the mandatory
/// escapes, `<`, `>`, `&`, U+2028 and U+2029 become `\u` escapes.
fn write_go_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// Terraform's own notation: `list(string)`, `object({name=string})`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("any"),
            Type::List(element) => write!(f, "list({element})"),
            Type::Set(element) => write!(f, "set({element})"),
            Type::Map(element) => write!(f, "map({element})"),
            Type::Object { attrs, optional } => {
                f.write_str("object({")?;
                for (position, (name, ty)) in attrs.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    if optional.contains(name) {
                        write!(f, "{name}=optional({ty})")?;
                    } else {
                        write!(f, "{name}={ty}")?;
                    }
                }
                f.write_str("})")
            }
            Type::Tuple(elements) => {
                f.write_str("tuple([")?;
                for (position, ty) in elements.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{ty}")?;
                }
                f.write_str("])")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(json: &str) {
        let ty = Type::from_json(json.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(ty.to_json()).unwrap(), json);
    }

    #[test]
    fn primitive_types_use_their_names() {
        round_trip("\"string\"");
        round_trip("\"number\"");
        round_trip("\"bool\"");
        round_trip("\"dynamic\"");
    }

    #[test]
    fn collection_and_structural_types_round_trip_byte_for_byte() {
        round_trip("[\"list\",\"string\"]");
        round_trip("[\"set\",[\"map\",\"number\"]]");
        round_trip("[\"object\",{\"a\":\"string\",\"b\":[\"list\",\"bool\"]}]");
        round_trip("[\"object\",{\"a\":\"string\",\"b\":\"number\"},[\"b\"]]");
        round_trip("[\"tuple\",[\"string\",\"dynamic\"]]");
        round_trip("[\"tuple\",[]]");
    }

    #[test]
    fn object_attribute_names_are_written_sorted_whatever_the_input_order() {
        let ty = Type::from_json(br#"["object",{"z":"bool","a":"string"}]"#).unwrap();
        assert_eq!(ty.to_json(), br#"["object",{"a":"string","z":"bool"}]"#);
    }

    #[test]
    fn attribute_names_are_escaped_like_go() {
        let ty = Type::object([("a<b&c", Type::String)]);
        assert_eq!(ty.to_json(), br#"["object",{"a\u003cb\u0026c":"string"}]"#);
        assert_eq!(Type::from_json(&ty.to_json()).unwrap(), ty);
    }

    #[test]
    fn optional_attribute_must_belong_to_the_object() {
        assert!(Type::from_json(br#"["object",{"a":"string"},["b"]]"#).is_err());
    }

    #[test]
    fn unknown_or_malformed_types_are_errors() {
        for bad in [
            "\"float\"",
            "[\"list\"]",
            "[\"list\",\"string\",\"x\"]",
            "[\"tuple\",\"string\"]",
            "42",
            "",
            "[\"object\",[]]",
        ] {
            assert!(Type::from_json(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn deeply_nested_types_are_rejected_not_overflowed() {
        let depth = 200;
        let json = format!(
            "{}\"string\"{}",
            "[\"list\",".repeat(depth),
            "]".repeat(depth)
        );
        assert!(Type::from_json(json.as_bytes()).is_err());
    }

    #[test]
    fn displays_in_terraform_notation() {
        let ty = Type::list(Type::object([("name", Type::String)]));
        assert_eq!(ty.to_string(), "list(object({name=string}))");
    }
}
