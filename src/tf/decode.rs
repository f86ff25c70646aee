//! Typed decoding of Terraform values into Rust types, and encoding back: a resource reads its
//! configuration once into a spec struct, and every error names the attribute path it arose at.
//!
//! `FromValue` is implemented for the scalar types, `Option<T>` (null is `None`), `Vec<T>` (list, set or
//! tuple), `BTreeMap<String, T>` (map or object) and [`Maybe<T>`] (a value that may still be unknown at
//! plan or validate time). Objects are read field by field through [`Fields`]. A type with a `FromStr`
//! (a typed ARM ID, an enum of choices) decodes from a string with [`from_str_value!`].

use std::collections::BTreeMap;

use super::number::Number;
use super::path::AttributePath;
use super::value::{Value, ValueError};

/// A type that can be read from a Terraform value found at `path`.
pub trait FromValue: Sized {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError>;

    /// Reads a whole value (a resource's configuration, plan or state), whose paths start at the root.
    fn from_value(value: &Value) -> Result<Self, ValueError> {
        Self::from_value_at(value, &AttributePath::root())
    }
}

/// A type that can be written as a Terraform value (into state or a plan).
pub trait IntoValue {
    fn into_value(self) -> Value;
}

/// A value that Terraform may not know yet. Validation and planning see unknowns; apply does not, so apply
/// specs use plain types and validation specs wrap what may be unknown in `Maybe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Maybe<T> {
    Unknown,
    Known(T),
}

impl<T> Maybe<T> {
    /// The value when it is known.
    pub fn known(&self) -> Option<&T> {
        match self {
            Maybe::Known(value) => Some(value),
            Maybe::Unknown => None,
        }
    }

    pub fn into_known(self) -> Option<T> {
        match self {
            Maybe::Known(value) => Some(value),
            Maybe::Unknown => None,
        }
    }

    pub fn is_known(&self) -> bool {
        matches!(self, Maybe::Known(_))
    }
}

impl<T> Maybe<Option<T>> {
    /// The value when it is known and not null.
    pub fn present(&self) -> Option<&T> {
        self.known().and_then(Option::as_ref)
    }
}

/// The error for a value that is not what the decoder needs, in the words a configuration author reads.
fn expected(path: &AttributePath, what: &str, value: &Value) -> ValueError {
    let message = match value {
        Value::Unknown(_) => format!("must be known before apply ({what} expected)"),
        Value::Null => format!("is required ({what} expected)"),
        other => format!("must be {what}, not a {}", other.kind()),
    };
    ValueError::at(path.clone(), message)
}

/// Looks through a dynamic wrapper, as every decoder should.
fn concrete(value: &Value) -> &Value {
    match value {
        Value::Dynamic(_, inner) => concrete(inner),
        other => other,
    }
}

impl FromValue for Value {
    fn from_value_at(value: &Value, _path: &AttributePath) -> Result<Self, ValueError> {
        Ok(value.clone())
    }
}

impl FromValue for String {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::String(s) => Ok(s.clone()),
            other => Err(expected(path, "a string", other)),
        }
    }
}

impl FromValue for bool {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::Bool(b) => Ok(*b),
            other => Err(expected(path, "a bool", other)),
        }
    }
}

impl FromValue for Number {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::Number(n) => Ok(n.clone()),
            other => Err(expected(path, "a number", other)),
        }
    }
}

/// Whole numbers: a fraction, a negative number for an unsigned type, or one past the type's range is
/// an error that says so.
macro_rules! whole_number {
    ($($ty:ty => $convert:ident),* $(,)?) => {$(
        impl FromValue for $ty {
            fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
                let number = Number::from_value_at(value, path)?;
                number.$convert().ok_or_else(|| {
                    ValueError::at(
                        path.clone(),
                        format!(
                            "must be a whole number from {} to {}, not {number}",
                            <$ty>::MIN,
                            <$ty>::MAX
                        ),
                    )
                })
            }
        }
    )*};
}

whole_number!(u32 => to_u32, u64 => to_u64, i64 => to_i64);

impl<T: FromValue> FromValue for Option<T> {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::Null => Ok(None),
            _ => T::from_value_at(value, path).map(Some),
        }
    }
}

impl<T: FromValue> FromValue for Maybe<T> {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::Unknown(_) => Ok(Maybe::Unknown),
            _ => T::from_value_at(value, path).map(Maybe::Known),
        }
    }
}

impl<T: FromValue> FromValue for Vec<T> {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::List(elements) | Value::Set(elements) | Value::Tuple(elements) => elements
                .iter()
                .enumerate()
                .map(|(i, element)| {
                    let index = i64::try_from(i).unwrap_or(i64::MAX);
                    T::from_value_at(element, &path.clone().index(index))
                })
                .collect(),
            other => Err(expected(path, "a list", other)),
        }
    }
}

impl<T: FromValue> FromValue for BTreeMap<String, T> {
    fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
        match concrete(value) {
            Value::Map(entries) | Value::Object(entries) => entries
                .iter()
                .map(|(key, entry)| {
                    T::from_value_at(entry, &path.clone().key(key.as_str()))
                        .map(|decoded| (key.clone(), decoded))
                })
                .collect(),
            other => Err(expected(path, "a map", other)),
        }
    }
}

/// The attributes of an object value, read one by one with their paths. An attribute the object does not
/// have reads as null, so optional attributes absent from an older state decode as `None`.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    attrs: &'a BTreeMap<String, Value>,
    path: AttributePath,
}

static NO_ATTRIBUTES: BTreeMap<String, Value> = BTreeMap::new();

impl<'a> Fields<'a> {
    /// The attributes of `value`, which must be a known object (or null, which has no attributes).
    pub fn of(value: &'a Value, path: &AttributePath) -> Result<Fields<'a>, ValueError> {
        match concrete(value) {
            Value::Object(attrs) => Ok(Fields {
                attrs,
                path: path.clone(),
            }),
            Value::Null => Ok(Fields {
                attrs: &NO_ATTRIBUTES,
                path: path.clone(),
            }),
            other => Err(expected(path, "an object", other)),
        }
    }

    /// The attributes of a whole configuration, plan or state.
    pub fn root(value: &'a Value) -> Result<Fields<'a>, ValueError> {
        Fields::of(value, &AttributePath::root())
    }

    /// The path of attribute `name`, for diagnostics about it.
    pub fn path(&self, name: &str) -> AttributePath {
        self.path.clone().attr(name)
    }

    /// The raw value of attribute `name` (null when absent).
    pub fn raw(&self, name: &str) -> &'a Value {
        self.attrs.get(name).unwrap_or(&Value::Null)
    }

    /// Attribute `name` decoded as `T`.
    pub fn get<T: FromValue>(&self, name: &str) -> Result<T, ValueError> {
        T::from_value_at(self.raw(name), &self.path(name))
    }

    /// Attribute `name` decoded as `T`, or `default` when it is null (an optional attribute left out).
    pub fn get_or<T: FromValue>(&self, name: &str, default: T) -> Result<T, ValueError> {
        Ok(self.get::<Option<T>>(name)?.unwrap_or(default))
    }

    /// Whether the object has attribute `name` at all (null or not): tells apart the shapes of a dynamic value.
    pub fn has(&self, name: &str) -> bool {
        self.attrs.contains_key(name)
    }

    /// The names of the object's attributes, in order, for a diagnostic that lists what a value holds.
    pub fn names(&self) -> impl Iterator<Item = &'a str> {
        self.attrs.keys().map(String::as_str)
    }

    /// Attribute `name`, a nested object, as fields of its own.
    pub fn object(&self, name: &str) -> Result<Fields<'a>, ValueError> {
        Fields::of(self.raw(name), &self.path(name))
    }
}

/// Attribute `name` of `fields` when it is known, not null and of the kind `T` reads: validation and
/// planning check what they can see and leave the rest to a later phase (Terraform checks the kinds).
pub fn known<T: FromValue>(fields: &Fields<'_>, name: &str) -> Option<T> {
    fields
        .get::<Maybe<Option<T>>>(name)
        .ok()?
        .into_known()
        .flatten()
}

/// The attribute at `names` (nested objects, then the attribute) of a whole configuration, plan or state,
/// when it is known, not null and of the kind `T` reads (see [`known`]).
pub fn known_at<T: FromValue>(value: &Value, names: &[&str]) -> Option<T> {
    let (name, objects) = names.split_last()?;
    let mut fields = Fields::root(value).ok()?;
    for object in objects {
        fields = fields.object(object).ok()?;
    }
    known(&fields, name)
}

/// Implements [`FromValue`] (from a string) and [`IntoValue`] (to its `Display` text) for types with
/// `FromStr`, such as typed ARM IDs and enums of choices; a parse error keeps its message and gains the path.
#[macro_export]
macro_rules! from_str_value {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::tf::decode::FromValue for $ty {
            fn from_value_at(
                value: &$crate::tf::Value,
                path: &$crate::tf::AttributePath,
            ) -> Result<Self, $crate::tf::ValueError> {
                let text = <String as $crate::tf::decode::FromValue>::from_value_at(value, path)?;
                text.parse::<$ty>()
                    .map_err(|e| $crate::tf::ValueError::at(path.clone(), e.to_string()))
            }
        }

        impl $crate::tf::decode::IntoValue for $ty {
            fn into_value(self) -> $crate::tf::Value {
                $crate::tf::Value::String(self.to_string())
            }
        }
    )*};
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::String(self)
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::string(self)
    }
}

impl IntoValue for bool {
    fn into_value(self) -> Value {
        Value::Bool(self)
    }
}

impl IntoValue for Number {
    fn into_value(self) -> Value {
        Value::Number(self)
    }
}

impl IntoValue for u32 {
    fn into_value(self) -> Value {
        Value::number(self)
    }
}

impl IntoValue for u64 {
    fn into_value(self) -> Value {
        Value::number(self)
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::number(self)
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        self.map_or(Value::Null, IntoValue::into_value)
    }
}

impl<T: IntoValue> IntoValue for Maybe<T> {
    fn into_value(self) -> Value {
        match self {
            Maybe::Unknown => Value::unknown(),
            Maybe::Known(value) => value.into_value(),
        }
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: IntoValue> IntoValue for BTreeMap<String, T> {
    fn into_value(self) -> Value {
        Value::Map(
            self.into_iter()
                .map(|(key, value)| (key, value.into_value()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::tf::types::Type;

    #[derive(Debug, PartialEq)]
    struct Rule {
        name: String,
        port: u32,
        probe: Option<String>,
    }

    impl FromValue for Rule {
        fn from_value_at(value: &Value, path: &AttributePath) -> Result<Self, ValueError> {
            let fields = Fields::of(value, path)?;
            Ok(Rule {
                name: fields.get("name")?,
                port: fields.get_or("port", 80)?,
                probe: fields.get("probe")?,
            })
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    enum Sku {
        Basic,
        Standard,
    }

    impl std::str::FromStr for Sku {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            match s {
                "Basic" => Ok(Sku::Basic),
                "Standard" => Ok(Sku::Standard),
                other => Err(format!("sku {other:?} is not one of Basic, Standard")),
            }
        }
    }

    impl std::fmt::Display for Sku {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(match self {
                Sku::Basic => "Basic",
                Sku::Standard => "Standard",
            })
        }
    }

    from_str_value!(Sku);

    fn rule(name: &str, port: Value) -> Value {
        Value::object([
            ("name", Value::string(name)),
            ("port", port),
            ("probe", Value::Null),
        ])
    }

    #[test]
    fn objects_decode_field_by_field_with_defaults_for_null() {
        let rules = Value::list([
            rule("http", Value::number(8080u32)),
            rule("https", Value::Null),
        ]);
        let decoded = Vec::<Rule>::from_value(&rules).expect("decodes");
        assert_eq!(
            decoded,
            [
                Rule {
                    name: "http".into(),
                    port: 8080,
                    probe: None
                },
                Rule {
                    name: "https".into(),
                    port: 80,
                    probe: None
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_attribute_path_and_what_was_expected() {
        let config = Value::object([(
            "rules",
            Value::list([
                rule("http", Value::number(80u32)),
                rule("big", Value::number(u64::from(u32::MAX) + 1)),
            ]),
        )]);
        let fields = Fields::root(&config).expect("object");
        let error = fields.get::<Vec<Rule>>("rules").expect_err("too large");
        assert_eq!(error.path.to_string(), "rules[1].port");
        assert!(
            error.message.contains("whole number from 0 to 4294967295"),
            "{error}"
        );

        let missing = Value::object([("port", Value::number(1u32))]);
        let error = Rule::from_value(&missing).expect_err("name is required");
        assert_eq!(error.path.to_string(), "name");
        assert!(error.message.starts_with("is required"), "{error}");

        let unknown = Value::object([("name", Value::unknown())]);
        let error = Rule::from_value(&unknown).expect_err("unknown name");
        assert!(error.message.starts_with("must be known"), "{error}");

        let wrong = Value::object([("name", Value::Bool(true))]);
        let error = Rule::from_value(&wrong).expect_err("a bool is no string");
        assert_eq!(error.message, "must be a string, not a bool");
    }

    #[test]
    fn fractions_and_negative_numbers_are_not_whole_numbers() {
        let half = Value::Number("0.5".parse().expect("number"));
        assert!(u32::from_value(&half).is_err());
        assert!(u64::from_value(&Value::number(-1i64)).is_err());
        assert_eq!(i64::from_value(&Value::number(-1i64)), Ok(-1));
    }

    #[test]
    fn maybe_keeps_unknowns_apart_from_nulls() {
        let config = Value::object([("a", Value::unknown()), ("b", Value::Null)]);
        let fields = Fields::root(&config).expect("object");
        assert_eq!(fields.get::<Maybe<Option<String>>>("a"), Ok(Maybe::Unknown));
        assert_eq!(
            fields.get::<Maybe<Option<String>>>("b"),
            Ok(Maybe::Known(None))
        );
        assert_eq!(
            fields.get::<Maybe<Option<String>>>("absent"),
            Ok(Maybe::Known(None))
        );
        let known: Maybe<Option<String>> = Maybe::Known(Some("x".into()));
        assert_eq!(known.present().map(String::as_str), Some("x"));
    }

    #[test]
    fn from_str_types_decode_with_their_own_message_at_the_path() {
        let config = Value::object([("sku", Value::string("Premium"))]);
        let error = Fields::root(&config)
            .and_then(|f| f.get::<Sku>("sku"))
            .expect_err("not a sku");
        assert_eq!(
            error.to_string(),
            "sku: sku \"Premium\" is not one of Basic, Standard"
        );
        assert_eq!(Sku::Standard.into_value(), Value::string("Standard"));
        assert_eq!(Sku::from_value(&Value::string("Basic")), Ok(Sku::Basic));
    }

    #[test]
    fn dynamic_wrappers_and_nested_objects_are_looked_through() {
        let dynamic = Value::Dynamic(Box::new(Type::String), Box::new(Value::string("x")));
        assert_eq!(String::from_value(&dynamic), Ok("x".to_string()));
        let config = Value::object([(
            "os_disk",
            Value::object([("size_gb", Value::number(64u32))]),
        )]);
        let disk = Fields::root(&config)
            .and_then(|f| f.object("os_disk"))
            .expect("object");
        assert_eq!(disk.get_or("size_gb", 30u32), Ok(64));
        assert_eq!(disk.path("size_gb").to_string(), "os_disk.size_gb");
        let absent = Fields::root(&config)
            .and_then(|f| f.object("image"))
            .expect("null has no attributes");
        assert_eq!(absent.get::<Option<String>>("id"), Ok(None));
    }

    #[test]
    fn has_and_names_tell_the_shapes_of_a_dynamic_object_apart() {
        let value = Value::object([("id", Value::Null), ("nodes", Value::list([]))]);
        let fields = Fields::root(&value).expect("object");
        assert!(fields.has("id"), "a null attribute is still there");
        assert!(!fields.has("nic_ids"));
        assert_eq!(fields.names().collect::<Vec<_>>(), ["id", "nodes"]);
        let none = Fields::root(&Value::Null).expect("null has no attributes");
        assert!(!none.has("id"));
        assert_eq!(none.names().count(), 0);
    }

    #[test]
    fn known_reads_only_what_is_known_and_of_its_kind() {
        let config = Value::object([
            ("name", Value::string("agents")),
            ("node_count", Value::unknown()),
            ("placement", Value::Null),
            (
                "timeouts",
                Value::object([("create", Value::string("90m"))]),
            ),
            ("upgrade", Value::unknown()),
        ]);
        assert_eq!(
            known_at::<String>(&config, &["name"]).as_deref(),
            Some("agents")
        );
        assert_eq!(known_at::<u64>(&config, &["node_count"]), None);
        assert_eq!(known_at::<String>(&config, &["placement"]), None);
        assert_eq!(
            known_at::<u64>(&config, &["name"]),
            None,
            "a string is no count"
        );
        assert_eq!(
            known_at::<String>(&config, &["timeouts", "create"]).as_deref(),
            Some("90m")
        );
        assert_eq!(
            known_at::<String>(&config, &["upgrade", "max_unavailable"]),
            None
        );
        assert_eq!(known_at::<String>(&config, &["absent", "deeper"]), None);
    }

    proptest! {
        #[test]
        fn encoding_then_decoding_gives_back_the_same_value(
            names in proptest::collection::vec(".*", 0..8),
            tags in proptest::collection::btree_map("[a-z]{1,8}", proptest::option::of(any::<u64>()), 0..8),
            flag in any::<bool>(),
            count in any::<i64>(),
        ) {
            prop_assert_eq!(Vec::<String>::from_value(&names.clone().into_value()), Ok(names));
            prop_assert_eq!(
                BTreeMap::<String, Option<u64>>::from_value(&tags.clone().into_value()),
                Ok(tags)
            );
            prop_assert_eq!(bool::from_value(&flag.into_value()), Ok(flag));
            prop_assert_eq!(i64::from_value(&count.into_value()), Ok(count));
        }

        #[test]
        fn decoding_never_panics_on_any_shape(value in crate::tf::decode::tests::any_value()) {
            let _ = Vec::<Rule>::from_value(&value);
            let _ = BTreeMap::<String, Maybe<Option<u32>>>::from_value(&value);
            let _ = Option::<Sku>::from_value(&value);
        }
    }

    pub(super) fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            Just(Value::unknown()),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::number),
            "[a-z]{0,6}".prop_map(Value::string),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
                proptest::collection::btree_map("[a-z]{1,5}", inner, 0..4).prop_map(Value::Object),
            ]
        })
    }
}
