//! The JSON encoding of values (cty's json package), which Terraform uses for stored state (RawState).
//!
//! Reference: go-cty `cty/json/{marshal,unmarshal}.go`. As there, primitives convert loosely (a number or a
//! bool may arrive as a string and vice versa), absent object attributes read as null, and a dynamically
//! typed value is `{"value": ..., "type": ...}`. JSON holds no unknown values.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde_json::{Map, Value as Json};

use super::number::Number;
use super::path::{AttributePath, PathStep};
use super::types::{Type, MAX_DEPTH};
use super::value::{Value, ValueError};

/// Decodes a JSON document as a value of type `ty`.
pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let json: Json =
        serde_json::from_slice(bytes).map_err(|e| ValueError::new(format!("invalid JSON: {e}")))?;
    let mut path = Vec::new();
    decode(&json, ty, &mut path)
}

/// Encodes a wholly known value of type `ty` as JSON.
pub fn encode_json(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut path = Vec::new();
    let json = encode(value, ty, &mut path)?;
    serde_json::to_vec(&json).map_err(|e| ValueError::new(format!("cannot write JSON: {e}")))
}

fn error(path: &[PathStep], message: impl Into<String>) -> ValueError {
    ValueError::at(AttributePath(path.to_vec()), message)
}

fn describe(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a bool",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn decode(json: &Json, ty: &Type, path: &mut Vec<PathStep>) -> Result<Value, ValueError> {
    if path.len() >= MAX_DEPTH {
        return Err(error(
            path,
            format!("value nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    let wrong = |path: &[PathStep], wanted: &str| {
        error(
            path,
            format!("{wanted} is required, found {}", describe(json)),
        )
    };
    let at = |path: &mut Vec<PathStep>, step: PathStep, json: &Json, ty: &Type| {
        path.push(step);
        let value = decode(json, ty, path)?;
        path.pop();
        Ok::<_, ValueError>(value)
    };
    match (ty, json) {
        (_, Json::Null) => Ok(Value::Null),
        (Type::Dynamic, Json::Object(fields)) => {
            if let Some(other) = fields.keys().find(|k| *k != "type" && *k != "value") {
                return Err(error(
                    path,
                    format!("invalid key {other:?} in dynamically typed value"),
                ));
            }
            let concrete = fields
                .get("type")
                .ok_or_else(|| error(path, "missing type in dynamically typed value"))
                .and_then(|t| Type::from_json_value(t, 0).map_err(|e| error(path, e.message)))?;
            let inner = fields
                .get("value")
                .ok_or_else(|| error(path, "missing value in dynamically typed value"))?;
            let value = decode(inner, &concrete, path)?;
            Ok(Value::Dynamic(Box::new(concrete), Box::new(value)))
        }
        (Type::Dynamic, _) => Err(wrong(path, "an object with type and value")),
        (Type::Bool, Json::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Bool, Json::String(s)) if s == "true" => Ok(Value::Bool(true)),
        (Type::Bool, Json::String(s)) if s == "false" => Ok(Value::Bool(false)),
        (Type::Bool, _) => Err(wrong(path, "bool")),
        (Type::Number, Json::Number(n)) => Number::parse(&n.to_string())
            .map(Value::Number)
            .map_err(|e| error(path, e.to_string())),
        (Type::Number, Json::String(s)) => Number::parse(s)
            .map(Value::Number)
            .map_err(|e| error(path, e.to_string())),
        (Type::Number, _) => Err(wrong(path, "number")),
        (Type::String, Json::String(s)) => Ok(Value::String(s.clone())),
        (Type::String, Json::Number(n)) => Ok(Value::String(n.to_string())),
        (Type::String, Json::Bool(b)) => Ok(Value::String(b.to_string())),
        (Type::String, _) => Err(wrong(path, "string")),
        (Type::List(element) | Type::Set(element), Json::Array(items)) => {
            let mut values = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                values.push(at(path, PathStep::Index(index as i64), item, element)?);
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(values)
            } else {
                Value::List(values)
            })
        }
        (Type::List(_), _) => Err(wrong(path, "list")),
        (Type::Set(_), _) => Err(wrong(path, "set")),
        (Type::Tuple(elements), Json::Array(items)) => {
            if items.len() != elements.len() {
                return Err(error(
                    path,
                    format!(
                        "tuple of {} elements is required, found {}",
                        elements.len(),
                        items.len()
                    ),
                ));
            }
            let mut values = Vec::with_capacity(items.len());
            for (index, (item, element)) in items.iter().zip(elements).enumerate() {
                values.push(at(path, PathStep::Index(index as i64), item, element)?);
            }
            Ok(Value::Tuple(values))
        }
        (Type::Tuple(_), _) => Err(wrong(path, "tuple")),
        (Type::Map(element), Json::Object(entries)) => {
            let mut values = BTreeMap::new();
            for (key, item) in entries {
                let value = at(path, PathStep::Key(key.clone()), item, element)?;
                values.insert(key.clone(), value);
            }
            Ok(Value::Map(values))
        }
        (Type::Map(_), _) => Err(wrong(path, "map")),
        (Type::Object { attrs, .. }, Json::Object(fields)) => {
            if let Some(extra) = fields.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(error(path, format!("unsupported attribute {extra:?}")));
            }
            let mut values = BTreeMap::new();
            for (name, attr_ty) in attrs {
                let value = match fields.get(name) {
                    Some(item) => at(path, PathStep::Attr(name.clone()), item, attr_ty)?,
                    None => Value::Null,
                };
                values.insert(name.clone(), value);
            }
            Ok(Value::Object(values))
        }
        (Type::Object { .. }, _) => Err(wrong(path, "object")),
    }
}

fn encode(value: &Value, ty: &Type, path: &mut Vec<PathStep>) -> Result<Json, ValueError> {
    let at = |path: &mut Vec<PathStep>, step: PathStep, value: &Value, ty: &Type| {
        path.push(step);
        let json = encode(value, ty, path)?;
        path.pop();
        Ok::<_, ValueError>(json)
    };
    match (ty, value) {
        (_, Value::Unknown(_)) => Err(error(path, "unknown values cannot be written as JSON")),
        (_, Value::Null) => Ok(Json::Null),
        (Type::Dynamic, Value::Dynamic(concrete, inner)) => {
            let type_json = serde_json::from_slice(&concrete.to_json())
                .map_err(|e| error(path, format!("cannot write type {concrete}: {e}")))?;
            let mut fields = Map::new();
            fields.insert("value".to_owned(), encode(inner, concrete, path)?);
            fields.insert("type".to_owned(), type_json);
            Ok(Json::Object(fields))
        }
        (_, Value::Dynamic(concrete, inner)) if **concrete == *ty => encode(inner, ty, path),
        (Type::Bool, Value::Bool(b)) => Ok(Json::Bool(*b)),
        (Type::Number, Value::Number(n)) => serde_json::Number::from_str(&n.to_string())
            .map(Json::Number)
            .map_err(|e| error(path, format!("cannot write number {n}: {e}"))),
        (Type::String, Value::String(s)) => Ok(Json::String(s.clone())),
        (Type::List(element), Value::List(values)) | (Type::Set(element), Value::Set(values)) => {
            let mut items = Vec::with_capacity(values.len());
            for (index, value) in values.iter().enumerate() {
                items.push(at(path, PathStep::Index(index as i64), value, element)?);
            }
            Ok(Json::Array(items))
        }
        (Type::Tuple(elements), Value::Tuple(values)) if elements.len() == values.len() => {
            let mut items = Vec::with_capacity(values.len());
            for (index, (value, element)) in values.iter().zip(elements).enumerate() {
                items.push(at(path, PathStep::Index(index as i64), value, element)?);
            }
            Ok(Json::Array(items))
        }
        (Type::Map(element), Value::Map(entries)) => {
            let mut fields = Map::new();
            for (key, value) in entries {
                let json = at(path, PathStep::Key(key.clone()), value, element)?;
                fields.insert(key.clone(), json);
            }
            Ok(Json::Object(fields))
        }
        (Type::Object { attrs, .. }, Value::Object(values)) => {
            if let Some(extra) = values.keys().find(|name| !attrs.contains_key(*name)) {
                return Err(error(path, format!("unsupported attribute {extra:?}")));
            }
            let mut fields = Map::new();
            for (name, attr_ty) in attrs {
                let json = match values.get(name) {
                    Some(value) => at(path, PathStep::Attr(name.clone()), value, attr_ty)?,
                    None => Json::Null,
                };
                fields.insert(name.clone(), json);
            }
            Ok(Json::Object(fields))
        }
        _ => Err(error(
            path,
            format!("a value of type {ty} is required, found a {}", value.kind()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_type() -> Type {
        Type::object([
            ("name", Type::String),
            ("node_count", Type::Number),
            ("spot", Type::Bool),
            ("tags", Type::map(Type::String)),
            ("sets", Type::list(Type::object([("index", Type::Number)]))),
        ])
    }

    #[test]
    fn decodes_raw_state_of_an_object() {
        let json = br#"{"name":"web","node_count":450,"sets":[{"index":0}],"spot":false,"tags":{"env":"prod"}}"#;
        let value = decode_json(json, &pool_type()).unwrap();
        assert_eq!(value.get("name").and_then(Value::as_str), Some("web"));
        assert_eq!(
            value.get("node_count").and_then(Value::as_number),
            Some(&Number::from(450u64))
        );
        assert_eq!(encode_json(&value, &pool_type()).unwrap(), json.to_vec());
    }

    #[test]
    fn absent_attributes_read_as_null() {
        let value = decode_json(br#"{"name":"web"}"#, &pool_type()).unwrap();
        assert!(value.get("node_count").is_some_and(Value::is_null));
    }

    #[test]
    fn unknown_attributes_are_errors_naming_the_path() {
        let error = decode_json(br#"{"sets":[{"index":0,"x":1}]}"#, &pool_type()).unwrap_err();
        assert_eq!(error.path.to_string(), "sets[0]");
        assert!(error.message.contains("\"x\""));
    }

    #[test]
    fn primitives_convert_loosely_like_cty() {
        assert_eq!(
            decode_json(br#""12.5""#, &Type::Number).unwrap(),
            Value::number(Number::parse("12.5").unwrap())
        );
        assert_eq!(
            decode_json(b"12", &Type::String).unwrap(),
            Value::string("12")
        );
        assert_eq!(
            decode_json(b"true", &Type::String).unwrap(),
            Value::string("true")
        );
        assert_eq!(
            decode_json(br#""false""#, &Type::Bool).unwrap(),
            Value::Bool(false)
        );
        assert!(decode_json(br#""yes""#, &Type::Bool).is_err());
        assert!(decode_json(br#""abc""#, &Type::Number).is_err());
    }

    #[test]
    fn big_numbers_keep_every_digit() {
        let json = b"123456789012345678901234567890.000000000000000000001";
        let value = decode_json(json, &Type::Number).unwrap();
        assert_eq!(
            encode_json(&value, &Type::Number).unwrap(),
            b"123456789012345678901234567890.000000000000000000001".to_vec()
        );
    }

    #[test]
    fn dynamic_values_carry_their_type() {
        let json = br#"{"type":["list","string"],"value":["a","b"]}"#;
        let value = decode_json(json, &Type::Dynamic).unwrap();
        assert_eq!(
            value,
            Value::Dynamic(
                Box::new(Type::list(Type::String)),
                Box::new(Value::list([Value::string("a"), Value::string("b")]))
            )
        );
        assert_eq!(encode_json(&value, &Type::Dynamic).unwrap(), json.to_vec());
        assert!(decode_json(br#"{"value":1}"#, &Type::Dynamic).is_err());
        assert!(decode_json(br#"{"type":"number","value":1,"x":2}"#, &Type::Dynamic).is_err());
    }

    #[test]
    fn tuples_need_exactly_their_elements() {
        let ty = Type::Tuple(vec![Type::String, Type::Number]);
        assert!(decode_json(br#"["a",1]"#, &ty).is_ok());
        assert!(decode_json(br#"["a"]"#, &ty).is_err());
        assert!(decode_json(br#"["a",1,2]"#, &ty).is_err());
    }

    #[test]
    fn malformed_or_deep_json_is_an_error_not_a_panic() {
        assert!(decode_json(b"{", &pool_type()).is_err());
        assert!(decode_json(b"", &Type::String).is_err());
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let mut ty = Type::String;
        for _ in 0..100 {
            ty = Type::list(ty);
        }
        assert!(decode_json(deep.as_bytes(), &ty).is_err());
    }

    #[test]
    fn unknowns_cannot_be_written() {
        assert!(encode_json(&Value::unknown(), &Type::String).is_err());
    }
}
