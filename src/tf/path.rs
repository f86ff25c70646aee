//! Attribute paths: where in a Terraform value something applies or went wrong.

use std::fmt;

/// One step from a value into one of its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An attribute of an object.
    Attr(String),
    /// An element of a map.
    Key(String),
    /// An element of a list, set or tuple, by position.
    Index(i64),
}

/// A path from the root of a value (a resource's attributes, a function's argument) to one part of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AttributePath(pub Vec<PathStep>);

impl AttributePath {
    /// The path to the root value itself.
    pub fn root() -> Self {
        Self::default()
    }

    /// The path of a top-level attribute, where most diagnostics point.
    pub fn of(name: impl Into<String>) -> Self {
        Self::root().attr(name)
    }

    /// This path extended by an object attribute.
    pub fn attr(mut self, name: impl Into<String>) -> Self {
        self.0.push(PathStep::Attr(name.into()));
        self
    }

    /// This path extended by a map key.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.0.push(PathStep::Key(key.into()));
        self
    }

    /// This path extended by a list, set or tuple position.
    pub fn index(mut self, index: i64) -> Self {
        self.0.push(PathStep::Index(index));
        self
    }

    /// The steps from the root, outermost first.
    pub fn steps(&self) -> &[PathStep] {
        &self.0
    }

    /// Whether this is the path to the root value.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<PathStep>> for AttributePath {
    fn from(steps: Vec<PathStep>) -> Self {
        Self(steps)
    }
}

/// Renders the path the way Terraform users write references: `availability_sets[0].name`, `tags["env"]`.
impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Attr(name) if position == 0 => f.write_str(name)?,
                PathStep::Attr(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_a_terraform_reference() {
        let path = AttributePath::root()
            .attr("availability_sets")
            .index(0)
            .attr("name");
        assert_eq!(path.to_string(), "availability_sets[0].name");
    }

    #[test]
    fn displays_map_keys_quoted() {
        let path = AttributePath::root().attr("tags").key("env");
        assert_eq!(path.to_string(), "tags[\"env\"]");
    }

    #[test]
    fn root_path_displays_empty() {
        assert!(AttributePath::root().is_root());
        assert_eq!(AttributePath::root().to_string(), "");
    }
}
