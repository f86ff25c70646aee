//! The msgpack encoding of values that Terraform's plugin protocol uses (cty's msgpack package), directed
//! by the value's type, including unknown values and their refinements.
//!
//! Reference: go-cty `cty/msgpack/{marshal,unmarshal,unknown,dynamic}.go`. Decoding is hardened against
//! hostile input: every read is bounds-checked, nesting is limited, and no length prefix allocates more
//! than the remaining input could fill.

use std::collections::BTreeMap;

use rmp::Marker;

use super::number::Number;
use super::path::{AttributePath, PathStep};
use super::types::{Type, MAX_DEPTH};
use super::value::{NumberBound, Refinements, Value, ValueError};

/// Extension type of an unknown value without refinements (cty writes it as fixext1 `d4 00 00`).
const EXT_UNKNOWN: i8 = 0;
/// Extension type of an unknown value whose payload is a map of refinements.
const EXT_REFINED_UNKNOWN: i8 = 0x0c;
/// cty refuses refinement payloads above 1 KiB as abusive; so do we.
const MAX_REFINEMENTS_LEN: usize = 1024;

// Keys of the refinement map, as cty numbers them.
const REFINE_NULLNESS: i64 = 1;
const REFINE_STRING_PREFIX: i64 = 2;
const REFINE_NUMBER_MIN: i64 = 3;
const REFINE_NUMBER_MAX: i64 = 4;
const REFINE_LENGTH_MIN: i64 = 5;
const REFINE_LENGTH_MAX: i64 = 6;

/// Decodes a whole msgpack document as a value of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let mut decoder = Decoder {
        input: Reader { bytes, pos: 0 },
        path: Vec::new(),
        depth: 0,
    };
    let value = decoder.value(ty)?;
    if decoder.input.pos != bytes.len() {
        return Err(ValueError::new(format!(
            "{} unexpected bytes after the value",
            bytes.len() - decoder.input.pos
        )));
    }
    Ok(value)
}

/// Encodes a value of type `ty` as cty would.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut encoder = Encoder {
        out: Vec::new(),
        path: Vec::new(),
    };
    encoder.value(value, ty)?;
    Ok(encoder.out)
}

/// The start of one msgpack item; strings, binaries and extensions come with their payload.
#[derive(Clone, Copy)]
enum Head<'a> {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    Float(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext(i8, &'a [u8]),
}

impl Head<'_> {
    fn describe(&self) -> &'static str {
        match self {
            Head::Nil => "nil",
            Head::Bool(_) => "a bool",
            Head::Uint(_) | Head::Int(_) => "an integer",
            Head::Float(_) => "a float",
            Head::Str(_) => "a string",
            Head::Bin(_) => "binary data",
            Head::Array(_) => "an array",
            Head::Map(_) => "a map",
            Head::Ext(..) => "an extension",
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| "unexpected end of input".to_owned())?;
        let taken = self.bytes.get(self.pos..end).unwrap_or_default();
        self.pos = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn len8(&mut self) -> Result<usize, String> {
        Ok(usize::from(self.u8()?))
    }

    fn len16(&mut self) -> Result<usize, String> {
        Ok(usize::from(self.u16()?))
    }

    fn len32(&mut self) -> Result<usize, String> {
        usize::try_from(self.u32()?).map_err(|_| "length exceeds this platform".to_owned())
    }

    fn ext(&mut self, len: usize) -> Result<Head<'a>, String> {
        let kind = i8::from_be_bytes(self.array()?);
        Ok(Head::Ext(kind, self.take(len)?))
    }

    /// A collection header, refusing counts the rest of the input cannot hold (each element takes at
    /// least one byte) so that hostile lengths never drive allocation.
    fn collection(&self, count: usize, bytes_per_item: usize) -> Result<usize, String> {
        if count.saturating_mul(bytes_per_item) > self.remaining() {
            return Err(format!(
                "collection of {count} items is longer than the remaining input"
            ));
        }
        Ok(count)
    }

    fn head(&mut self) -> Result<Head<'a>, String> {
        let marker = Marker::from_u8(self.u8()?);
        Ok(match marker {
            Marker::Null => Head::Nil,
            Marker::True => Head::Bool(true),
            Marker::False => Head::Bool(false),
            Marker::FixPos(n) => Head::Uint(u64::from(n)),
            Marker::FixNeg(n) => Head::Int(i64::from(n)),
            Marker::U8 => Head::Uint(u64::from(self.u8()?)),
            Marker::U16 => Head::Uint(u64::from(self.u16()?)),
            Marker::U32 => Head::Uint(u64::from(self.u32()?)),
            Marker::U64 => Head::Uint(u64::from_be_bytes(self.array()?)),
            Marker::I8 => Head::Int(i64::from(i8::from_be_bytes(self.array()?))),
            Marker::I16 => Head::Int(i64::from(i16::from_be_bytes(self.array()?))),
            Marker::I32 => Head::Int(i64::from(i32::from_be_bytes(self.array()?))),
            Marker::I64 => Head::Int(i64::from_be_bytes(self.array()?)),
            Marker::F32 => Head::Float(f64::from(f32::from_be_bytes(self.array()?))),
            Marker::F64 => Head::Float(f64::from_be_bytes(self.array()?)),
            Marker::FixStr(n) => Head::Str(self.take(usize::from(n))?),
            Marker::Str8 => {
                let len = self.len8()?;
                Head::Str(self.take(len)?)
            }
            Marker::Str16 => {
                let len = self.len16()?;
                Head::Str(self.take(len)?)
            }
            Marker::Str32 => {
                let len = self.len32()?;
                Head::Str(self.take(len)?)
            }
            Marker::Bin8 => {
                let len = self.len8()?;
                Head::Bin(self.take(len)?)
            }
            Marker::Bin16 => {
                let len = self.len16()?;
                Head::Bin(self.take(len)?)
            }
            Marker::Bin32 => {
                let len = self.len32()?;
                Head::Bin(self.take(len)?)
            }
            Marker::FixArray(n) => Head::Array(self.collection(usize::from(n), 1)?),
            Marker::Array16 => {
                let count = self.len16()?;
                Head::Array(self.collection(count, 1)?)
            }
            Marker::Array32 => {
                let count = self.len32()?;
                Head::Array(self.collection(count, 1)?)
            }
            Marker::FixMap(n) => Head::Map(self.collection(usize::from(n), 2)?),
            Marker::Map16 => {
                let count = self.len16()?;
                Head::Map(self.collection(count, 2)?)
            }
            Marker::Map32 => {
                let count = self.len32()?;
                Head::Map(self.collection(count, 2)?)
            }
            Marker::FixExt1 => self.ext(1)?,
            Marker::FixExt2 => self.ext(2)?,
            Marker::FixExt4 => self.ext(4)?,
            Marker::FixExt8 => self.ext(8)?,
            Marker::FixExt16 => self.ext(16)?,
            Marker::Ext8 => {
                let len = self.len8()?;
                self.ext(len)?
            }
            Marker::Ext16 => {
                let len = self.len16()?;
                self.ext(len)?
            }
            Marker::Ext32 => {
                let len = self.len32()?;
                self.ext(len)?
            }
            Marker::Reserved => return Err("reserved msgpack marker 0xc1".to_owned()),
        })
    }
}

struct Decoder<'a> {
    input: Reader<'a>,
    path: Vec<PathStep>,
    depth: usize,
}

impl<'a> Decoder<'a> {
    fn error(&self, message: impl Into<String>) -> ValueError {
        ValueError::at(AttributePath(self.path.clone()), message)
    }

    fn head(&mut self) -> Result<Head<'a>, ValueError> {
        self.input.head().map_err(|message| self.error(message))
    }

    fn value(&mut self, ty: &Type) -> Result<Value, ValueError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("value nests deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let head = self.head()?;
        let value = self.value_from(head, ty);
        self.depth -= 1;
        value
    }

    fn value_from(&mut self, head: Head<'a>, ty: &Type) -> Result<Value, ValueError> {
        if let Head::Ext(kind, payload) = head {
            return self.unknown(kind, payload, ty);
        }
        if *ty == Type::Dynamic {
            return self.dynamic(head);
        }
        if let Head::Nil = head {
            return Ok(Value::Null);
        }
        let wrong = |decoder: &Self, wanted: &str| {
            decoder.error(format!("{wanted} is required, found {}", head.describe()))
        };
        match ty {
            Type::Bool => match head {
                Head::Bool(b) => Ok(Value::Bool(b)),
                _ => Err(wrong(self, "bool")),
            },
            Type::Number => match head {
                Head::Uint(n) => Ok(Value::Number(Number::from(n))),
                Head::Int(n) => Ok(Value::Number(Number::from(n))),
                Head::Float(f) => Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| self.error("infinite or NaN numbers are not supported")),
                Head::Str(text) => {
                    let text = self.utf8(text)?;
                    Number::parse(text)
                        .map(Value::Number)
                        .map_err(|e| self.error(e.to_string()))
                }
                _ => Err(wrong(self, "number")),
            },
            Type::String => match head {
                Head::Str(text) | Head::Bin(text) => Ok(Value::String(self.utf8(text)?.to_owned())),
                _ => Err(wrong(self, "string")),
            },
            Type::List(element) => match head {
                Head::Array(count) => self.elements(count, element).map(Value::List),
                _ => Err(wrong(self, "list")),
            },
            Type::Set(element) => match head {
                Head::Array(count) => self.elements(count, element).map(Value::Set),
                _ => Err(wrong(self, "set")),
            },
            Type::Tuple(elements) => match head {
                Head::Array(count) if count == elements.len() => {
                    let mut values = Vec::with_capacity(count);
                    for (index, element) in elements.iter().enumerate() {
                        values.push(self.at(PathStep::Index(index as i64), element)?);
                    }
                    Ok(Value::Tuple(values))
                }
                Head::Array(count) => Err(self.error(format!(
                    "tuple of {} elements is required, found {count}",
                    elements.len()
                ))),
                _ => Err(wrong(self, "tuple")),
            },
            Type::Map(element) => match head {
                Head::Map(count) => {
                    let mut entries = BTreeMap::new();
                    for _ in 0..count {
                        let key = self.key()?;
                        let value = self.at(PathStep::Key(key.clone()), element)?;
                        if entries.insert(key.clone(), value).is_some() {
                            return Err(self.error(format!("duplicate map key {key:?}")));
                        }
                    }
                    Ok(Value::Map(entries))
                }
                _ => Err(wrong(self, "map")),
            },
            Type::Object { attrs, optional } => match head {
                Head::Map(count) => {
                    let mut values = BTreeMap::new();
                    for _ in 0..count {
                        let name = self.key()?;
                        let Some(attr_ty) = attrs.get(&name) else {
                            return Err(self.error(format!("unsupported attribute {name:?}")));
                        };
                        let value = self.at(PathStep::Attr(name.clone()), attr_ty)?;
                        if values.insert(name.clone(), value).is_some() {
                            return Err(self.error(format!("duplicate attribute {name:?}")));
                        }
                    }
                    for name in attrs.keys() {
                        if !values.contains_key(name) {
                            if !optional.contains(name) {
                                return Err(self.error(format!("missing attribute {name:?}")));
                            }
                            values.insert(name.clone(), Value::Null);
                        }
                    }
                    Ok(Value::Object(values))
                }
                _ => Err(wrong(self, "object")),
            },
            Type::Dynamic => self.dynamic(head),
        }
    }

    fn at(&mut self, step: PathStep, ty: &Type) -> Result<Value, ValueError> {
        self.path.push(step);
        let value = self.value(ty)?;
        self.path.pop();
        Ok(value)
    }

    fn elements(&mut self, count: usize, element: &Type) -> Result<Vec<Value>, ValueError> {
        let mut values = Vec::with_capacity(count);
        for index in 0..count {
            values.push(self.at(PathStep::Index(index as i64), element)?);
        }
        Ok(values)
    }

    fn utf8<'t>(&self, bytes: &'t [u8]) -> Result<&'t str, ValueError> {
        std::str::from_utf8(bytes).map_err(|_| self.error("string is not valid UTF-8"))
    }

    fn key(&mut self) -> Result<String, ValueError> {
        match self.head()? {
            Head::Str(text) => Ok(self.utf8(text)?.to_owned()),
            other => Err(self.error(format!("keys must be strings, found {}", other.describe()))),
        }
    }

    /// `[type JSON, value]`, or nil for a null of unknown type.
    fn dynamic(&mut self, head: Head<'a>) -> Result<Value, ValueError> {
        match head {
            Head::Nil => Ok(Value::Null),
            Head::Array(2) => {
                let type_json = match self.head()? {
                    Head::Bin(json) | Head::Str(json) => json,
                    other => {
                        return Err(self.error(format!(
                            "dynamic value's type must be JSON bytes, found {}",
                            other.describe()
                        )))
                    }
                };
                let ty = Type::from_json(type_json).map_err(|e| self.error(e.message))?;
                let value = self.value(&ty)?;
                Ok(Value::Dynamic(Box::new(ty), Box::new(value)))
            }
            other => Err(self.error(format!(
                "dynamic value must be a [type, value] array, found {}",
                other.describe()
            ))),
        }
    }

    fn unknown(&self, kind: i8, payload: &[u8], ty: &Type) -> Result<Value, ValueError> {
        // Payloads of at most one byte carry no refinements, whatever the extension type.
        if payload.len() <= 1 {
            return Ok(Value::unknown());
        }
        if kind != EXT_REFINED_UNKNOWN {
            return Err(self.error(format!(
                "unsupported msgpack extension type {kind} with {} bytes",
                payload.len()
            )));
        }
        if payload.len() > MAX_REFINEMENTS_LEN {
            return Err(self.error("unknown value refinements exceed 1 KiB"));
        }
        let mut refinements = Decoder {
            input: Reader {
                bytes: payload,
                pos: 0,
            },
            path: self.path.clone(),
            depth: self.depth,
        };
        let count = match refinements.head()? {
            Head::Map(count) => count,
            _ => return Err(self.error("unknown value refinements must be a map")),
        };
        // cty keeps no refinements for unknowns of unknown type; the map is still checked above.
        if *ty == Type::Dynamic {
            return Ok(Value::unknown());
        }
        let mut found = Refinements::default();
        for _ in 0..count {
            let key = match refinements.head()? {
                Head::Uint(k) => i64::try_from(k).unwrap_or(i64::MAX),
                Head::Int(k) => k,
                _ => return Err(self.error("refinement keys must be integers")),
            };
            match key {
                REFINE_NULLNESS => match refinements.head()? {
                    // A value refined to be null is simply null.
                    Head::Bool(true) => return Ok(Value::Null),
                    Head::Bool(false) => found.not_null = true,
                    _ => return Err(self.error("nullness refinement must be a bool")),
                },
                REFINE_STRING_PREFIX if *ty == Type::String => match refinements.head()? {
                    // An empty prefix constrains nothing, and the encoder never writes one; keeping it
                    // would make a decoded value re-encode differently (found by fuzzing).
                    Head::Str(prefix) => {
                        let prefix = self.utf8(prefix)?;
                        found.string_prefix = (!prefix.is_empty()).then(|| prefix.to_owned());
                    }
                    _ => return Err(self.error("string prefix refinement must be a string")),
                },
                REFINE_NUMBER_MIN | REFINE_NUMBER_MAX if *ty == Type::Number => {
                    let bound = refinements.number_bound()?;
                    if key == REFINE_NUMBER_MIN {
                        found.number_lower = Some(bound);
                    } else {
                        found.number_upper = Some(bound);
                    }
                }
                REFINE_LENGTH_MIN | REFINE_LENGTH_MAX if ty.is_collection() => {
                    let bound = match refinements.head()? {
                        Head::Uint(n) => n,
                        Head::Int(n) => u64::try_from(n)
                            .map_err(|_| self.error("collection length bound is negative"))?,
                        _ => return Err(self.error("collection length bound must be an integer")),
                    };
                    if key == REFINE_LENGTH_MIN {
                        found.length_lower = Some(bound);
                    } else {
                        found.length_upper = Some(bound);
                    }
                }
                REFINE_STRING_PREFIX | REFINE_NUMBER_MIN | REFINE_NUMBER_MAX
                | REFINE_LENGTH_MIN | REFINE_LENGTH_MAX => {
                    return Err(self.error(format!(
                        "refinement {key} does not apply to a value of type {ty}"
                    )))
                }
                // Keys cty may add later are skipped, as cty itself does.
                _ => refinements.skip()?,
            }
        }
        Ok(Value::Unknown(Box::new(found)))
    }

    fn number_bound(&mut self) -> Result<NumberBound, ValueError> {
        let bound_ty = Type::Tuple(vec![Type::Number, Type::Bool]);
        match self.value(&bound_ty)? {
            Value::Tuple(parts) => match parts.as_slice() {
                [Value::Number(value), Value::Bool(inclusive)] => Ok(NumberBound {
                    value: value.clone(),
                    inclusive: *inclusive,
                }),
                _ => Err(self.error("number bound refinement must be a known [number, bool]")),
            },
            _ => Err(self.error("number bound refinement must be a [number, bool] array")),
        }
    }

    /// Skips one item of any shape.
    fn skip(&mut self) -> Result<(), ValueError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("value nests deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let items = match self.head()? {
            Head::Array(count) => count,
            Head::Map(count) => count.saturating_mul(2),
            _ => 0,
        };
        for _ in 0..items {
            self.skip()?;
        }
        self.depth -= 1;
        Ok(())
    }
}

/// Builds a fix-form marker that carries a small length in the marker byte itself.
type FixMarker = fn(u8) -> Marker;

/// The markers of one length-prefixed family, smallest form first: the fix form with the largest length it
/// holds, then the 8-, 16- and 32-bit length forms.
struct LengthForms {
    fix: Option<(usize, FixMarker)>,
    eight: Option<Marker>,
    sixteen: Marker,
    thirty_two: Marker,
}

const STR_FORMS: LengthForms = LengthForms {
    fix: Some((31, Marker::FixStr)),
    eight: Some(Marker::Str8),
    sixteen: Marker::Str16,
    thirty_two: Marker::Str32,
};
const BIN_FORMS: LengthForms = LengthForms {
    fix: None,
    eight: Some(Marker::Bin8),
    sixteen: Marker::Bin16,
    thirty_two: Marker::Bin32,
};
const ARRAY_FORMS: LengthForms = LengthForms {
    fix: Some((15, Marker::FixArray)),
    eight: None,
    sixteen: Marker::Array16,
    thirty_two: Marker::Array32,
};
const MAP_FORMS: LengthForms = LengthForms {
    fix: Some((15, Marker::FixMap)),
    eight: None,
    sixteen: Marker::Map16,
    thirty_two: Marker::Map32,
};
/// Lengths 1, 2, 4, 8 and 16 have fixext forms, which the caller picks before falling back to these.
const EXT_FORMS: LengthForms = LengthForms {
    fix: None,
    eight: Some(Marker::Ext8),
    sixteen: Marker::Ext16,
    thirty_two: Marker::Ext32,
};

struct Encoder {
    out: Vec<u8>,
    path: Vec<PathStep>,
}

impl Encoder {
    fn error(&self, message: impl Into<String>) -> ValueError {
        ValueError::at(AttributePath(self.path.clone()), message)
    }

    fn marker(&mut self, marker: Marker) {
        self.out.push(marker.to_u8());
    }

    fn value(&mut self, value: &Value, ty: &Type) -> Result<(), ValueError> {
        if *ty == Type::Dynamic {
            return match value {
                Value::Null => {
                    self.marker(Marker::Null);
                    Ok(())
                }
                // cty never refines unknowns of unknown type.
                Value::Unknown(_) => self.unknown(&Refinements::default(), ty),
                Value::Dynamic(concrete, inner) => {
                    self.array_len(2)?;
                    self.bin(&concrete.to_json())?;
                    self.value(inner, concrete)
                }
                other => Err(self.error(format!(
                    "a {} at a dynamically typed position must carry its type",
                    other.kind()
                ))),
            };
        }
        let mismatch = |encoder: &Self| {
            encoder.error(format!(
                "a value of type {ty} is required, found a {}",
                value.kind()
            ))
        };
        match (ty, value) {
            (_, Value::Dynamic(concrete, inner)) if **concrete == *ty => self.value(inner, ty)?,
            (_, Value::Null) => self.marker(Marker::Null),
            (_, Value::Unknown(refinements)) => self.unknown(refinements, ty)?,
            (Type::Bool, Value::Bool(b)) => {
                self.marker(if *b { Marker::True } else { Marker::False })
            }
            (Type::Number, Value::Number(n)) => self.number(n)?,
            (Type::String, Value::String(s)) => self.str(s)?,
            (Type::List(element), Value::List(values))
            | (Type::Set(element), Value::Set(values)) => {
                self.array_len(values.len())?;
                for (index, value) in values.iter().enumerate() {
                    self.at(PathStep::Index(index as i64), value, element)?;
                }
            }
            (Type::Tuple(elements), Value::Tuple(values)) => {
                if elements.len() != values.len() {
                    return Err(self.error(format!(
                        "a tuple of {} elements is required, found {}",
                        elements.len(),
                        values.len()
                    )));
                }
                self.array_len(values.len())?;
                for (index, (value, element)) in values.iter().zip(elements).enumerate() {
                    self.at(PathStep::Index(index as i64), value, element)?;
                }
            }
            (Type::Map(element), Value::Map(entries)) => {
                self.map_len(entries.len())?;
                for (key, value) in entries {
                    self.str(key)?;
                    self.at(PathStep::Key(key.clone()), value, element)?;
                }
            }
            (Type::Object { attrs, optional }, Value::Object(values)) => {
                if let Some(extra) = values.keys().find(|name| !attrs.contains_key(*name)) {
                    return Err(self.error(format!("unsupported attribute {extra:?}")));
                }
                self.map_len(attrs.len())?;
                for (name, attr_ty) in attrs {
                    self.str(name)?;
                    match values.get(name) {
                        Some(value) => self.at(PathStep::Attr(name.clone()), value, attr_ty)?,
                        None if optional.contains(name) => self.marker(Marker::Null),
                        None => return Err(self.error(format!("missing attribute {name:?}"))),
                    }
                }
            }
            _ => return Err(mismatch(self)),
        }
        Ok(())
    }

    fn at(&mut self, step: PathStep, value: &Value, ty: &Type) -> Result<(), ValueError> {
        self.path.push(step);
        self.value(value, ty)?;
        self.path.pop();
        Ok(())
    }

    /// As cty: an integer when it fits i64, a float64 when exact, else the decimal text.
    fn number(&mut self, n: &Number) -> Result<(), ValueError> {
        if let Some(int) = n.to_i64() {
            self.int(int);
        } else if let Some(float) = n.to_exact_f64() {
            self.marker(Marker::F64);
            self.out.extend_from_slice(&float.to_be_bytes());
        } else {
            self.str(&n.to_string())?;
        }
        Ok(())
    }

    /// The most compact integer form, as cty's encoder chooses it.
    fn int(&mut self, n: i64) {
        if n >= 0 {
            self.uint(n.unsigned_abs());
        } else if n >= -32 {
            self.out.extend_from_slice(&(n as i8).to_be_bytes());
        } else if let Ok(n) = i8::try_from(n) {
            self.marker(Marker::I8);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = i16::try_from(n) {
            self.marker(Marker::I16);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = i32::try_from(n) {
            self.marker(Marker::I32);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else {
            self.marker(Marker::I64);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    fn uint(&mut self, n: u64) {
        if n < 128 {
            self.out.push(n as u8);
        } else if let Ok(n) = u8::try_from(n) {
            self.marker(Marker::U8);
            self.out.push(n);
        } else if let Ok(n) = u16::try_from(n) {
            self.marker(Marker::U16);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else if let Ok(n) = u32::try_from(n) {
            self.marker(Marker::U32);
            self.out.extend_from_slice(&n.to_be_bytes());
        } else {
            self.marker(Marker::U64);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    /// Writes a length in the smallest form of its marker family.
    fn header(&mut self, len: usize, forms: &LengthForms) -> Result<(), ValueError> {
        match (forms.fix, forms.eight) {
            (Some((max, marker)), _) if len <= max => {
                let small = u8::try_from(len).map_err(|_| self.error("length overflow"))?;
                self.marker(marker(small));
            }
            (_, Some(marker)) if len <= usize::from(u8::MAX) => {
                self.marker(marker);
                self.out.push(len as u8);
            }
            _ => {
                if let Ok(len) = u16::try_from(len) {
                    self.marker(forms.sixteen);
                    self.out.extend_from_slice(&len.to_be_bytes());
                } else if let Ok(len) = u32::try_from(len) {
                    self.marker(forms.thirty_two);
                    self.out.extend_from_slice(&len.to_be_bytes());
                } else {
                    return Err(self.error("item longer than msgpack allows"));
                }
            }
        }
        Ok(())
    }

    fn str(&mut self, s: &str) -> Result<(), ValueError> {
        self.header(s.len(), &STR_FORMS)?;
        self.out.extend_from_slice(s.as_bytes());
        Ok(())
    }

    fn bin(&mut self, bytes: &[u8]) -> Result<(), ValueError> {
        self.header(bytes.len(), &BIN_FORMS)?;
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    fn array_len(&mut self, len: usize) -> Result<(), ValueError> {
        self.header(len, &ARRAY_FORMS)
    }

    fn map_len(&mut self, len: usize) -> Result<(), ValueError> {
        self.header(len, &MAP_FORMS)
    }

    /// Plain unknowns as fixext1 type 0; refinements that apply to `ty` as an ext 12 map. A map with no
    /// entries is never written. A refinement that would push the payload past cty's 1 KiB limit is left
    /// out: an unknown with fewer refinements is still truthful.
    fn unknown(&mut self, refinements: &Refinements, ty: &Type) -> Result<(), ValueError> {
        let mut entries: Vec<Vec<u8>> = Vec::new();
        if refinements.not_null {
            entries.push(vec![REFINE_NULLNESS as u8, Marker::False.to_u8()]);
        }
        let mut entry = |key: i64, value: &Value, value_ty: &Type| -> Result<(), ValueError> {
            let mut encoder = Encoder {
                out: vec![key as u8],
                path: Vec::new(),
            };
            encoder.value(value, value_ty)?;
            entries.push(encoder.out);
            Ok(())
        };
        match ty {
            Type::String => {
                if let Some(prefix) = refinements.string_prefix.as_deref() {
                    if !prefix.is_empty() {
                        entry(REFINE_STRING_PREFIX, &Value::string(prefix), &Type::String)?;
                    }
                }
            }
            Type::Number => {
                let bound_ty = Type::Tuple(vec![Type::Number, Type::Bool]);
                for (key, bound) in [
                    (REFINE_NUMBER_MIN, &refinements.number_lower),
                    (REFINE_NUMBER_MAX, &refinements.number_upper),
                ] {
                    if let Some(bound) = bound {
                        let value = Value::Tuple(vec![
                            Value::Number(bound.value.clone()),
                            Value::Bool(bound.inclusive),
                        ]);
                        entry(key, &value, &bound_ty)?;
                    }
                }
            }
            ty if ty.is_collection() => {
                for (key, bound) in [
                    (REFINE_LENGTH_MIN, refinements.length_lower),
                    (REFINE_LENGTH_MAX, refinements.length_upper),
                ] {
                    if let Some(bound) = bound {
                        let mut encoder = Encoder {
                            out: vec![key as u8],
                            path: Vec::new(),
                        };
                        encoder.uint(bound);
                        entries.push(encoder.out);
                    }
                }
            }
            _ => {}
        }
        let mut body = vec![0u8];
        let mut count = 0u8;
        for entry in entries {
            if body.len() + entry.len() <= MAX_REFINEMENTS_LEN {
                body.extend_from_slice(&entry);
                count += 1;
            }
        }
        if count == 0 {
            self.marker(Marker::FixExt1);
            self.out.extend_from_slice(&[EXT_UNKNOWN as u8, 0]);
            return Ok(());
        }
        if let Some(first) = body.first_mut() {
            *first = Marker::FixMap(count).to_u8();
        }
        match body.len() {
            1 => self.marker(Marker::FixExt1),
            2 => self.marker(Marker::FixExt2),
            4 => self.marker(Marker::FixExt4),
            8 => self.marker(Marker::FixExt8),
            16 => self.marker(Marker::FixExt16),
            len => self.header(len, &EXT_FORMS)?,
        }
        self.out.push(EXT_REFINED_UNKNOWN as u8);
        self.out.extend_from_slice(&body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(text: &str) -> Number {
        Number::parse(text).unwrap()
    }

    fn round_trip(value: &Value, ty: &Type) -> Value {
        decode(&encode(value, ty).unwrap(), ty).unwrap()
    }

    #[test]
    fn unknown_is_cty_fixext1_zero() {
        assert_eq!(
            encode(&Value::unknown(), &Type::String).unwrap(),
            [0xd4, 0, 0]
        );
        assert_eq!(
            encode(&Value::unknown(), &Type::Dynamic).unwrap(),
            [0xd4, 0, 0]
        );
    }

    #[test]
    fn null_is_nil_at_any_type() {
        for ty in [Type::String, Type::Dynamic, Type::list(Type::Bool)] {
            assert_eq!(encode(&Value::Null, &ty).unwrap(), [0xc0]);
            assert_eq!(decode(&[0xc0], &ty).unwrap(), Value::Null);
        }
    }

    #[test]
    fn small_object_matches_cty_bytes() {
        let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
        let value = Value::object([("a", Value::string("x")), ("b", Value::number(1i64))]);
        let bytes = [0x82, 0xa1, b'a', 0xa1, b'x', 0xa1, b'b', 0x01];
        assert_eq!(encode(&value, &ty).unwrap(), bytes);
        assert_eq!(decode(&bytes, &ty).unwrap(), value);
    }

    #[test]
    fn object_attributes_decode_in_any_order() {
        let ty = Type::object([("a", Type::String), ("b", Type::Number)]);
        let bytes = [0x82, 0xa1, b'b', 0x01, 0xa1, b'a', 0xa1, b'x'];
        assert_eq!(
            decode(&bytes, &ty).unwrap(),
            Value::object([("a", Value::string("x")), ("b", Value::number(1i64))])
        );
    }

    #[test]
    fn refined_unknown_string_matches_cty_bytes() {
        let value = Value::Unknown(Box::new(Refinements {
            not_null: true,
            string_prefix: Some("ab".to_owned()),
            ..Refinements::default()
        }));
        let bytes = [0xc7, 0x07, 0x0c, 0x82, 0x01, 0xc2, 0x02, 0xa2, b'a', b'b'];
        assert_eq!(encode(&value, &Type::String).unwrap(), bytes);
        assert_eq!(decode(&bytes, &Type::String).unwrap(), value);
    }

    #[test]
    fn refined_unknown_number_bounds_round_trip() {
        let value = Value::Unknown(Box::new(Refinements {
            number_lower: Some(NumberBound {
                value: n("0"),
                inclusive: true,
            }),
            number_upper: Some(NumberBound {
                value: n("0.1"),
                inclusive: false,
            }),
            ..Refinements::default()
        }));
        let bytes = encode(&value, &Type::Number).unwrap();
        assert_eq!(bytes.get(2), Some(&0x0c));
        assert_eq!(decode(&bytes, &Type::Number).unwrap(), value);
    }

    #[test]
    fn refined_unknown_collection_lengths_round_trip() {
        let value = Value::Unknown(Box::new(Refinements {
            not_null: true,
            length_lower: Some(1),
            length_upper: Some(300),
            ..Refinements::default()
        }));
        let ty = Type::set(Type::String);
        assert_eq!(round_trip(&value, &ty), value);
    }

    #[test]
    fn refinements_that_do_not_apply_are_never_written_as_an_empty_map() {
        let value = Value::Unknown(Box::new(Refinements {
            string_prefix: Some("ab".to_owned()),
            length_lower: Some(2),
            ..Refinements::default()
        }));
        assert_eq!(encode(&value, &Type::Bool).unwrap(), [0xd4, 0, 0]);
        let empty_prefix = Value::Unknown(Box::new(Refinements {
            string_prefix: Some(String::new()),
            ..Refinements::default()
        }));
        assert_eq!(encode(&empty_prefix, &Type::String).unwrap(), [0xd4, 0, 0]);
    }

    #[test]
    fn oversized_refinements_are_dropped_not_sent() {
        let value = Value::Unknown(Box::new(Refinements {
            not_null: true,
            string_prefix: Some("x".repeat(5000)),
            ..Refinements::default()
        }));
        let expected = Value::Unknown(Box::new(Refinements {
            not_null: true,
            ..Refinements::default()
        }));
        assert_eq!(round_trip(&value, &Type::String), expected);
    }

    #[test]
    fn refinements_on_dynamic_unknowns_are_ignored() {
        let bytes = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2];
        assert_eq!(decode(&bytes, &Type::Dynamic).unwrap(), Value::unknown());
    }

    #[test]
    fn refinement_true_nullness_means_null() {
        let bytes = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3];
        assert_eq!(decode(&bytes, &Type::String).unwrap(), Value::Null);
    }

    #[test]
    fn refinement_for_another_type_is_an_error() {
        let prefix_on_number = [0xc7, 0x04, 0x0c, 0x81, 0x02, 0xa1, b'a'];
        assert!(decode(&prefix_on_number, &Type::Number).is_err());
    }

    #[test]
    fn future_refinement_keys_are_skipped() {
        let bytes = [0xc7, 0x06, 0x0c, 0x82, 0x09, 0x91, 0xc0, 0x01, 0xc2];
        assert_eq!(
            decode(&bytes, &Type::String).unwrap(),
            Value::Unknown(Box::new(Refinements {
                not_null: true,
                ..Refinements::default()
            }))
        );
    }

    #[test]
    fn any_short_extension_is_a_plain_unknown() {
        assert_eq!(
            decode(&[0xd4, 0x05, 0x00], &Type::Bool).unwrap(),
            Value::unknown()
        );
        assert_eq!(
            decode(&[0xc7, 0x00, 0x00], &Type::Bool).unwrap(),
            Value::unknown()
        );
        assert!(decode(&[0xd5, 0x05, 0x00, 0x00], &Type::Bool).is_err());
    }

    #[test]
    fn numbers_encode_as_cty_does() {
        assert_eq!(
            encode(&Value::number(-1i64), &Type::Number).unwrap(),
            [0xff]
        );
        assert_eq!(
            encode(&Value::number(200i64), &Type::Number).unwrap(),
            [0xcc, 200]
        );
        assert_eq!(
            encode(&Value::number(-200i64), &Type::Number).unwrap(),
            [0xd1, 0xff, 0x38]
        );
        let mut half = vec![0xcb];
        half.extend_from_slice(&0.5f64.to_be_bytes());
        assert_eq!(
            encode(&Value::number(n("0.5")), &Type::Number).unwrap(),
            half
        );
        assert_eq!(
            encode(&Value::number(n("0.1")), &Type::Number).unwrap(),
            [0xa3, b'0', b'.', b'1']
        );
        // 2^70 is beyond i64 but exact as a float; 2^70 + 1 is neither, so it travels as text.
        let two_to_70 = encode(&Value::number(n("1180591620717411303424")), &Type::Number);
        let mut float = vec![0xcb];
        float.extend_from_slice(&2f64.powi(70).to_be_bytes());
        assert_eq!(two_to_70.unwrap(), float);
        let above = encode(&Value::number(n("1180591620717411303425")), &Type::Number);
        assert_eq!(above.unwrap(), b"\xb61180591620717411303425".to_vec());
    }

    #[test]
    fn numbers_decode_from_every_wire_form() {
        let cases: [(&[u8], &str); 9] = [
            (&[0x05], "5"),
            (&[0xe0], "-32"),
            (&[0xcc, 0xff], "255"),
            (
                &[0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                "18446744073709551615",
            ),
            (&[0xd0, 0x80], "-128"),
            (&[0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0], "-9223372036854775808"),
            (&[0xca, 0x3f, 0xc0, 0, 0], "1.5"),
            (&[0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], "1.5"),
            (&[0xa5, b'1', b'e', b'4', b'0', b'0'], "1e400"),
        ];
        for (bytes, expected) in cases {
            assert_eq!(
                decode(bytes, &Type::Number).unwrap(),
                Value::number(n(expected)),
                "{bytes:02x?}"
            );
        }
        assert!(decode(&[0xa3, b'a', b'b', b'c'], &Type::Number).is_err());
        let infinity = [0xcb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0];
        assert!(decode(&infinity, &Type::Number).is_err());
    }

    #[test]
    fn dynamic_value_is_type_json_then_value() {
        let value = Value::Dynamic(Box::new(Type::String), Box::new(Value::string("x")));
        let mut bytes = vec![0x92, 0xc4, 8];
        bytes.extend_from_slice(b"\"string\"");
        bytes.extend_from_slice(&[0xa1, b'x']);
        assert_eq!(encode(&value, &Type::Dynamic).unwrap(), bytes);
        assert_eq!(decode(&bytes, &Type::Dynamic).unwrap(), value);
    }

    #[test]
    fn dynamic_position_needs_a_typed_value() {
        assert!(encode(&Value::string("x"), &Type::Dynamic).is_err());
    }

    #[test]
    fn optional_attribute_missing_on_the_wire_decodes_as_null() {
        let ty = Type::Object {
            attrs: [
                ("a".to_owned(), Type::String),
                ("b".to_owned(), Type::String),
            ]
            .into(),
            optional: ["b".to_owned()].into(),
        };
        let bytes = [0x81, 0xa1, b'a', 0xa1, b'x'];
        assert_eq!(
            decode(&bytes, &ty).unwrap(),
            Value::object([("a", Value::string("x")), ("b", Value::Null)])
        );
    }

    #[test]
    fn missing_required_attribute_is_an_error() {
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let error = decode(&[0x81, 0xa1, b'a', 0xa1, b'x'], &ty).unwrap_err();
        assert!(error.message.contains("\"b\""), "{error}");
    }

    #[test]
    fn extra_attribute_is_an_error() {
        let ty = Type::object([("a", Type::String)]);
        let bytes = [0x82, 0xa1, b'a', 0xa1, b'x', 0xa1, b'z', 0xc0];
        assert!(decode(&bytes, &ty).is_err());
    }

    #[test]
    fn errors_name_the_path_where_decoding_failed() {
        let ty = Type::object([(
            "availability_sets",
            Type::list(Type::object([("name", Type::String)])),
        )]);
        let mut bytes = vec![0x81, 0xb1];
        bytes.extend_from_slice(b"availability_sets");
        bytes.extend_from_slice(&[0x92, 0x81, 0xa4]);
        bytes.extend_from_slice(b"name");
        bytes.extend_from_slice(&[0xa1, b'x', 0x81, 0xa4]);
        bytes.extend_from_slice(b"name");
        bytes.push(0x07);
        let error = decode(&bytes, &ty).unwrap_err();
        assert_eq!(error.path.to_string(), "availability_sets[1].name");
        assert!(error.message.contains("string is required"), "{error}");
    }

    #[test]
    fn wrong_wire_type_is_an_error() {
        assert!(decode(&[0xa1, b'x'], &Type::Bool).is_err());
        assert!(decode(&[0x90], &Type::String).is_err());
        assert!(decode(&[0x80], &Type::list(Type::String)).is_err());
        assert!(decode(&[0x91, 0x01], &Type::Tuple(vec![])).is_err());
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(decode(&[], &Type::String).is_err());
        assert!(decode(&[0xa3, b'a'], &Type::String).is_err());
        assert!(decode(&[0x92, 0x01], &Type::list(Type::Number)).is_err());
        assert!(decode(&[0xcd, 0x01], &Type::Number).is_err());
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        assert!(decode(&[0x01, 0x02], &Type::Number).is_err());
    }

    #[test]
    fn absurd_lengths_fail_fast_without_allocating() {
        let huge_array = [0xdd, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(decode(&huge_array, &Type::list(Type::Number)).is_err());
        let huge_map = [0xdf, 0xff, 0xff, 0xff, 0xff];
        assert!(decode(&huge_map, &Type::map(Type::Number)).is_err());
        let huge_str = [0xdb, 0xff, 0xff, 0xff, 0xff, b'a'];
        assert!(decode(&huge_str, &Type::String).is_err());
    }

    #[test]
    fn nesting_beyond_the_limit_is_an_error() {
        let mut ty = Type::Number;
        for _ in 0..100 {
            ty = Type::list(ty);
        }
        let mut bytes = vec![0x91; 100];
        bytes.push(0x01);
        assert!(decode(&bytes, &ty).is_err());
        // Dynamic values nest without a deep declared type.
        let mut dynamic = Vec::new();
        for _ in 0..100 {
            dynamic.extend_from_slice(&[0x92, 0xc4, 9]);
            dynamic.extend_from_slice(b"\"dynamic\"");
        }
        dynamic.push(0xc0);
        assert!(decode(&dynamic, &Type::Dynamic).is_err());
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(decode(&[0xa1, 0xff], &Type::String).is_err());
    }

    fn arb_type() -> impl Strategy<Value = Type> {
        let leaf = prop_oneof![
            Just(Type::Bool),
            Just(Type::Number),
            Just(Type::String),
            Just(Type::Dynamic),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                inner.clone().prop_map(Type::list),
                inner.clone().prop_map(Type::set),
                inner.clone().prop_map(Type::map),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Type::Tuple),
                (
                    prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4),
                    any::<prop::sample::Index>()
                )
                    .prop_map(|(attrs, pick)| {
                        let optional = if attrs.is_empty() {
                            Default::default()
                        } else {
                            attrs
                                .keys()
                                .nth(pick.index(attrs.len()))
                                .cloned()
                                .into_iter()
                                .collect()
                        };
                        Type::Object { attrs, optional }
                    }),
            ]
        })
    }

    fn arb_number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            any::<f64>().prop_filter_map("finite", Number::from_f64),
            (any::<i128>(), -420i64..420)
                .prop_map(|(m, e)| Number::parse(&format!("{m}e{e}")).unwrap()),
        ]
    }

    fn arb_bound() -> impl Strategy<Value = Option<NumberBound>> {
        proptest::option::of(
            (arb_number(), any::<bool>())
                .prop_map(|(value, inclusive)| NumberBound { value, inclusive }),
        )
    }

    fn arb_unknown(ty: &Type) -> BoxedStrategy<Value> {
        let not_null = any::<bool>();
        let refinements = match ty {
            Type::Dynamic => Just(Refinements::default()).boxed(),
            Type::String => (not_null, proptest::option::of("\\PC{1,12}"))
                .prop_map(|(not_null, string_prefix)| Refinements {
                    not_null,
                    string_prefix,
                    ..Refinements::default()
                })
                .boxed(),
            Type::Number => (not_null, arb_bound(), arb_bound())
                .prop_map(|(not_null, number_lower, number_upper)| Refinements {
                    not_null,
                    number_lower,
                    number_upper,
                    ..Refinements::default()
                })
                .boxed(),
            ty if ty.is_collection() => (
                not_null,
                proptest::option::of(any::<u64>()),
                proptest::option::of(any::<u64>()),
            )
                .prop_map(|(not_null, length_lower, length_upper)| Refinements {
                    not_null,
                    length_lower,
                    length_upper,
                    ..Refinements::default()
                })
                .boxed(),
            _ => not_null
                .prop_map(|not_null| Refinements {
                    not_null,
                    ..Refinements::default()
                })
                .boxed(),
        };
        refinements
            .prop_map(|r| Value::Unknown(Box::new(r)))
            .boxed()
    }

    fn arb_known(ty: &Type) -> BoxedStrategy<Value> {
        match ty {
            Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
            Type::Number => arb_number().prop_map(Value::Number).boxed(),
            Type::String => "\\PC{0,40}".prop_map(Value::String).boxed(),
            Type::Dynamic => prop_oneof![
                Just(Type::String),
                Just(Type::Number),
                Just(Type::list(Type::Bool))
            ]
            .prop_flat_map(|concrete| {
                arb_value(&concrete).prop_map(move |inner| {
                    Value::Dynamic(Box::new(concrete.clone()), Box::new(inner))
                })
            })
            .boxed(),
            Type::List(element) => prop::collection::vec(arb_value(element), 0..4)
                .prop_map(Value::List)
                .boxed(),
            Type::Set(element) => prop::collection::vec(arb_value(element), 0..4)
                .prop_map(Value::Set)
                .boxed(),
            Type::Map(element) => {
                prop::collection::btree_map("\\PC{0,8}", arb_value(element), 0..4)
                    .prop_map(Value::Map)
                    .boxed()
            }
            Type::Tuple(elements) => elements
                .iter()
                .map(arb_value)
                .collect::<Vec<_>>()
                .prop_map(Value::Tuple)
                .boxed(),
            Type::Object { attrs, .. } => attrs
                .iter()
                .map(|(name, ty)| {
                    let name = name.clone();
                    arb_value(ty).prop_map(move |value| (name.clone(), value))
                })
                .collect::<Vec<_>>()
                .prop_map(|attrs| Value::Object(attrs.into_iter().collect()))
                .boxed(),
        }
    }

    fn arb_value(ty: &Type) -> BoxedStrategy<Value> {
        prop_oneof![
            1 => Just(Value::Null),
            1 => arb_unknown(ty),
            6 => arb_known(ty),
        ]
        .boxed()
    }

    fn arb_typed_value() -> impl Strategy<Value = (Type, Value)> {
        arb_type().prop_flat_map(|ty| arb_value(&ty).prop_map(move |value| (ty.clone(), value)))
    }

    proptest! {
        #[test]
        fn every_value_round_trips_through_msgpack((ty, value) in arb_typed_value()) {
            let bytes = encode(&value, &ty).unwrap();
            prop_assert_eq!(decode(&bytes, &ty).unwrap(), value);
        }

        #[test]
        fn re_encoding_a_decoded_value_gives_the_same_bytes((ty, value) in arb_typed_value()) {
            let bytes = encode(&value, &ty).unwrap();
            let again = encode(&decode(&bytes, &ty).unwrap(), &ty).unwrap();
            prop_assert_eq!(again, bytes);
        }

        #[test]
        fn decoding_random_bytes_never_panics(
            ty in arb_type(),
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = decode(&bytes, &ty);
            let _ = decode(&bytes, &Type::Dynamic);
        }

        #[test]
        fn decoding_corrupted_encodings_never_panics(
            (ty, value) in arb_typed_value(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut bytes = encode(&value, &ty).unwrap();
            for (at, byte) in flips {
                let at = at.index(bytes.len());
                if let Some(slot) = bytes.get_mut(at) {
                    *slot = byte;
                }
            }
            let _ = decode(&bytes, &ty);
        }
    }
}
