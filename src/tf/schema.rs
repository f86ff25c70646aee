//! Schemas as data: attributes, nested attributes and blocks, with the cty type each implies.

use std::collections::BTreeMap;

use crate::tf::path::{AttributePath, PathStep};
use crate::tf::types::Type;

/// A versioned schema for the provider block or a resource type.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(version: i64, block: Block) -> Self {
        Schema { version, block }
    }

    /// The object type of a value conforming to this schema (how Terraform encodes config, plan and state).
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    /// Markdown.
    pub description: String,
    pub deprecated: bool,
}

impl Block {
    pub fn new(description: impl Into<String>) -> Self {
        Block {
            description: description.into(),
            ..Block::default()
        }
    }

    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    pub fn value_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_type()))
            .collect();
        for b in &self.blocks {
            attrs.insert(b.type_name.clone(), b.value_type());
        }
        Type::object(attrs)
    }

    pub fn find(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }
}

/// How a nested attribute or block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    Single,
    List,
    Set,
    Map,
    /// Blocks only: a single block that is never null.
    Group,
}

impl Nesting {
    fn wrap(self, object: Type) -> Type {
        match self {
            Nesting::Single | Nesting::Group => object,
            Nesting::List => Type::List(Box::new(object)),
            Nesting::Set => Type::Set(Box::new(object)),
            Nesting::Map => Type::Map(Box::new(object)),
        }
    }
}

/// What an attribute holds: a plain type, or nested attributes (protocol 6).
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeKind {
    Typed(Type),
    Nested {
        nesting: Nesting,
        attributes: Vec<Attribute>,
    },
}

/// One attribute with everything Terraform needs to know about it. Build with the constructors and the
/// chained setters, e.g. `Attribute::optional("tags", Type::map(Type::String)).describe("…")`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeKind,
    /// Markdown; docs/ shows the same text.
    pub description: String,
    pub required: bool,
    pub optional: bool,
    pub computed: bool,
    pub sensitive: bool,
    pub write_only: bool,
    pub deprecated: bool,
}

impl Attribute {
    fn with(name: &str, kind: AttributeKind) -> Self {
        Attribute {
            name: name.to_string(),
            kind,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecated: false,
        }
    }

    pub fn required(name: &str, ty: Type) -> Self {
        Attribute {
            required: true,
            ..Attribute::with(name, AttributeKind::Typed(ty))
        }
    }

    pub fn optional(name: &str, ty: Type) -> Self {
        Attribute {
            optional: true,
            ..Attribute::with(name, AttributeKind::Typed(ty))
        }
    }

    pub fn computed(name: &str, ty: Type) -> Self {
        Attribute {
            computed: true,
            ..Attribute::with(name, AttributeKind::Typed(ty))
        }
    }

    /// Optional in configuration, filled in by the provider when left out.
    pub fn optional_computed(name: &str, ty: Type) -> Self {
        Attribute {
            optional: true,
            computed: true,
            ..Attribute::with(name, AttributeKind::Typed(ty))
        }
    }

    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Attribute::with(
            name,
            AttributeKind::Nested {
                nesting,
                attributes,
            },
        )
    }

    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    pub fn set_required(mut self) -> Self {
        self.required = true;
        self.optional = false;
        self
    }

    pub fn set_optional(mut self) -> Self {
        self.optional = true;
        self.required = false;
        self
    }

    pub fn set_computed(mut self) -> Self {
        self.computed = true;
        self
    }

    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeKind::Typed(ty) => ty.clone(),
            AttributeKind::Nested {
                nesting,
                attributes,
            } => {
                let object =
                    Type::object(attributes.iter().map(|a| (a.name.clone(), a.value_type())));
                nesting.wrap(object)
            }
        }
    }
}

/// A block type (`timeouts { … }`).
#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
}

impl Block {
    /// The part of `path` Terraform can point at in a configuration: down through nested blocks, then one
    /// attribute and at most one element of it. Terraform (1.11, `tfdiags.ElaborateFromConfigBody`) resolves
    /// no deeper, so a path into a nested attribute such as `rules[0].protocol` would highlight the whole
    /// resource block; cut to `rules[0]`, it highlights the rule.
    pub fn locatable(&self, path: &AttributePath) -> AttributePath {
        let mut block = self;
        let mut out = Vec::new();
        let mut steps = path.steps().iter().peekable();
        while let Some(step) = steps.next() {
            let PathStep::Attr(name) = step else { break };
            out.push(step.clone());
            if let Some(PathStep::Index(_) | PathStep::Key(_)) = steps.peek() {
                out.extend(steps.next().cloned());
            }
            match block.blocks.iter().find(|b| &b.type_name == name) {
                Some(nested) => block = &nested.block,
                None => break,
            }
        }
        AttributePath::from(out)
    }
}

impl NestedBlock {
    pub fn new(type_name: &str, nesting: Nesting, block: Block) -> Self {
        NestedBlock {
            type_name: type_name.to_string(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }

    pub fn value_type(&self) -> Type {
        self.nesting.wrap(self.block.value_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locatable_paths_stop_at_the_first_attribute_and_its_element() {
        let block = Block::new("test")
            .attribute(Attribute::required("name", Type::String))
            .attribute(
                Attribute::nested(
                    "rules",
                    Nesting::List,
                    vec![Attribute::required("port", Type::Number)],
                )
                .set_optional(),
            )
            .block(NestedBlock::new(
                "timeouts",
                Nesting::Single,
                Block::new("").attribute(Attribute::optional("create", Type::String)),
            ));
        let cases = [
            (AttributePath::of("name"), AttributePath::of("name")),
            (
                AttributePath::of("rules").index(2).attr("port"),
                AttributePath::of("rules").index(2),
            ),
            (
                AttributePath::of("tags").key("a").attr("x"),
                AttributePath::of("tags").key("a"),
            ),
            (
                AttributePath::of("timeouts").attr("create"),
                AttributePath::of("timeouts").attr("create"),
            ),
            (AttributePath::root().index(0), AttributePath::root()),
        ];
        for (given, placed) in cases {
            assert_eq!(block.locatable(&given), placed, "{given}");
        }
    }

    #[test]
    fn implied_type_covers_attributes_nested_attributes_and_blocks() {
        let block = Block::new("test")
            .attribute(Attribute::required("name", Type::String))
            .attribute(Attribute::nested(
                "rules",
                Nesting::List,
                vec![Attribute::required("port", Type::Number)],
            ))
            .block(NestedBlock::new(
                "timeouts",
                Nesting::Single,
                Block::new("").attribute(Attribute::optional("create", Type::String)),
            ));
        let expected = Type::object(BTreeMap::from([
            ("name".to_string(), Type::String),
            (
                "rules".to_string(),
                Type::List(Box::new(Type::object(BTreeMap::from([(
                    "port".to_string(),
                    Type::Number,
                )])))),
            ),
            (
                "timeouts".to_string(),
                Type::object(BTreeMap::from([("create".to_string(), Type::String)])),
            ),
        ]));
        assert_eq!(block.value_type(), expected);
    }
}
