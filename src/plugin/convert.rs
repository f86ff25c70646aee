//! Conversions between the protocol's messages and the tf module's types.

use crate::plugin::proto::tfplugin6 as pb;
use crate::tf::diagnostics::{Diagnostic, Diagnostics, Severity};
use crate::tf::function::Function;
use crate::tf::path::{AttributePath, PathStep};
use crate::tf::provider::ClientCapabilities;
use crate::tf::schema::{Attribute, AttributeKind, Block, NestedBlock, Nesting, Schema};
use crate::tf::types::Type;
use crate::tf::value::Value;
use crate::tf::{json, msgpack};

pub fn schema(s: &Schema) -> pb::Schema {
    pb::Schema {
        version: s.version,
        block: Some(block(&s.block, s.version)),
    }
}

fn block(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b.blocks.iter().map(nested_block).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
    }
}

fn attribute(a: &Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.kind {
        AttributeKind::Typed(ty) => (ty.to_json(), None),
        AttributeKind::Nested {
            nesting,
            attributes,
        } => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: attributes.iter().map(attribute).collect(),
                nesting: object_nesting(*nesting) as i32,
                ..Default::default()
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecated,
        write_only: a.write_only,
    }
}

fn object_nesting(n: Nesting) -> pb::schema::object::NestingMode {
    use pb::schema::object::NestingMode as M;
    match n {
        Nesting::Single | Nesting::Group => M::Single,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    }
}

fn nested_block(b: &NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode as M;
    let nesting = match b.nesting {
        Nesting::Single => M::Single,
        Nesting::Group => M::Group,
        Nesting::List => M::List,
        Nesting::Set => M::Set,
        Nesting::Map => M::Map,
    };
    pb::schema::NestedBlock {
        type_name: b.type_name.clone(),
        block: Some(block(&b.block, 0)),
        nesting: nesting as i32,
        min_items: b.min_items,
        max_items: b.max_items,
    }
}

pub fn function(f: &Function) -> pb::Function {
    pb::Function {
        parameters: f
            .parameters
            .iter()
            .map(|p| pb::function::Parameter {
                name: p.name.clone(),
                r#type: p.ty.to_json(),
                allow_null_value: p.allow_null,
                allow_unknown_values: p.allow_unknown,
                description: p.description.clone(),
                description_kind: pb::StringKind::Markdown as i32,
            })
            .collect(),
        variadic_parameter: None,
        r#return: Some(pb::function::Return {
            r#type: f.return_type.to_json(),
        }),
        summary: f.summary.clone(),
        description: f.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecation_message: String::new(),
    }
}

pub fn path(p: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|step| pb::attribute_path::Step {
                selector: Some(match step {
                    PathStep::Attr(name) => Selector::AttributeName(name.clone()),
                    PathStep::Key(key) => Selector::ElementKeyString(key.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

pub fn diagnostic(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: crate::plugin::logging::scrub(&d.summary),
        detail: crate::plugin::logging::scrub(&d.detail),
        attribute: d.attribute.as_ref().map(path),
    }
}

pub fn diagnostics(ds: &Diagnostics) -> Vec<pb::Diagnostic> {
    ds.iter().map(diagnostic).collect()
}

/// Diagnostics about a value of `block`, with each path cut to what Terraform can highlight
/// ([`Block::locatable`]); a cut path is named in the detail so the user still learns the exact attribute.
pub fn diagnostics_in(ds: &Diagnostics, block: &Block) -> Vec<pb::Diagnostic> {
    ds.iter()
        .map(|d| match &d.attribute {
            Some(full) if block.locatable(full) != *full => {
                let mut placed = d.clone();
                placed.attribute = Some(block.locatable(full));
                let named = full.to_string();
                if !placed.detail.contains(&named) {
                    placed.detail = format!("{} (attribute {named})", placed.detail.trim_end());
                }
                diagnostic(&placed)
            }
            _ => diagnostic(d),
        })
        .collect()
}

pub fn client_capabilities(c: Option<&pb::ClientCapabilities>) -> ClientCapabilities {
    c.map(|c| ClientCapabilities {
        deferral_allowed: c.deferral_allowed,
        write_only_attributes_allowed: c.write_only_attributes_allowed,
    })
    .unwrap_or_default()
}

/// Decodes a DynamicValue of the given type; `what` names it in the error ("the planned state").
pub fn decode(
    value: Option<&pb::DynamicValue>,
    ty: &Type,
    what: &str,
) -> Result<Value, Diagnostic> {
    let Some(value) = value else {
        return Ok(Value::Null);
    };
    let decoded = if !value.msgpack.is_empty() {
        msgpack::decode(&value.msgpack, ty)
    } else if !value.json.is_empty() {
        json::decode_json(&value.json, ty)
    } else {
        return Ok(Value::Null);
    };
    decoded.map_err(|e| {
        Diagnostic::error(
            format!("Terraform sent a malformed value for {what}"),
            format!("{e}. This is a bug in Terraform or in the provider; please report it."),
        )
    })
}

pub fn encode(value: &Value, ty: &Type, what: &str) -> Result<pb::DynamicValue, Diagnostic> {
    msgpack::encode(value, ty)
        .map(|bytes| pb::DynamicValue {
            msgpack: bytes,
            json: Vec::new(),
        })
        .map_err(|e| {
            Diagnostic::error(
                format!("The provider produced an invalid value for {what}"),
                format!("{e}. This is a bug in the provider; please report it."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_terraform_cannot_place_is_cut_and_named_in_the_detail() {
        let block = Block::new("test").attribute(
            Attribute::nested(
                "rules",
                Nesting::List,
                vec![Attribute::required("port", Type::Number)],
            )
            .set_optional(),
        );
        let deep = Diagnostic::error("Invalid port", "port 0 is out of range")
            .at(AttributePath::of("rules").index(1).attr("port"));
        let top = Diagnostic::error("Bad", "rules[1].port is wrong")
            .at(AttributePath::of("rules").index(1).attr("port"));
        let out = diagnostics_in(&Diagnostics::from_iter([deep, top]), &block);
        let expected = path(&AttributePath::of("rules").index(1));
        assert_eq!(out[0].attribute.as_ref(), Some(&expected));
        assert_eq!(
            out[0].detail,
            "port 0 is out of range (attribute rules[1].port)"
        );
        assert_eq!(out[1].detail, "rules[1].port is wrong");
    }
}
