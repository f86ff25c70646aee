//! Azure's naming and tagging rules that more than one resource checks at validate time, so a typo fails
//! in `terraform validate` with the rule and the fix instead of as an ARM error halfway through an apply.

use std::collections::BTreeMap;

use crate::tf::decode::known_at;
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::path::AttributePath;
use crate::tf::value::Value;

/// Longest resource group name Azure accepts
/// (https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftresources).
const MAX_RESOURCE_GROUP_LEN: usize = 90;

/// Tags per resource, tag name and tag value lengths
/// (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations).
pub const MAX_TAGS: usize = 50;
const MAX_TAG_NAME_LEN: usize = 512;
const MAX_TAG_VALUE_LEN: usize = 256;
const TAG_NAME_FORBIDDEN: [char; 7] = ['<', '>', '%', '&', '\\', '?', '/'];

/// Checks `resource_group_name` when it is known: 1 to 90 letters, digits, `_ - . ( )`, not ending in `.`.
pub fn check_resource_group_name(config: &Value, diags: &mut Diagnostics) {
    let Some(name) = known_at::<String>(config, &["resource_group_name"]) else {
        return;
    };
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_RESOURCE_GROUP_LEN
        && !name.ends_with('.')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'));
    if !ok {
        diags.push(
            Diagnostic::error(
                "Invalid resource_group_name",
                format!(
                    "resource_group_name {name:?} is not a resource group name: use 1 to {MAX_RESOURCE_GROUP_LEN} \
                     letters, digits, underscores, hyphens, periods and parentheses, not ending with a period."
                ),
            )
            .at(AttributePath::of("resource_group_name")),
        );
    }
}

/// Checks the `tags` map when it is known: at most `MAX_TAGS - reserved` user tags (the provider adds
/// `reserved` of its own), names and values within Azure's lengths, no character Azure refuses in a name.
pub fn check_tags(config: &Value, reserved: usize, diags: &mut Diagnostics) {
    let Some(tags) = known_at::<BTreeMap<String, Value>>(config, &["tags"]) else {
        return;
    };
    let room = MAX_TAGS.saturating_sub(reserved);
    if tags.len() > room {
        diags.push(
            Diagnostic::error(
                "Too many tags",
                format!(
                    "tags holds {} entries, but Azure allows {MAX_TAGS} per resource and the provider adds {reserved} \
                     of its own: remove {} tags.",
                    tags.len(),
                    tags.len() - room
                ),
            )
            .at(AttributePath::of("tags")),
        );
    }
    for (name, value) in tags {
        let at = AttributePath::of("tags").key(name.clone());
        if name.is_empty()
            || name.chars().count() > MAX_TAG_NAME_LEN
            || name.contains(TAG_NAME_FORBIDDEN)
        {
            diags.push(
                Diagnostic::error(
                    "Invalid tag name",
                    format!(
                        "tag name {name:?} is not accepted by Azure: use 1 to {MAX_TAG_NAME_LEN} characters without \
                         < > % & \\ ? /."
                    ),
                )
                .at(at.clone()),
            );
        }
        if value
            .as_str()
            .is_some_and(|v| v.chars().count() > MAX_TAG_VALUE_LEN)
        {
            diags.push(
                Diagnostic::error(
                    "Tag value too long",
                    format!("the value of tag {name:?} is longer than Azure's {MAX_TAG_VALUE_LEN} characters; shorten it."),
                )
                .at(at),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn config(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn paths(diags: &Diagnostics) -> Vec<String> {
        diags
            .iter()
            .filter_map(|d| d.attribute.as_ref().map(ToString::to_string))
            .collect()
    }

    #[test]
    fn resource_group_names_follow_azure_rules() {
        for good in ["rg", "my-rg_1.(prod)", &"a".repeat(90)] {
            let mut diags = Diagnostics::new();
            check_resource_group_name(
                &config(&[("resource_group_name", Value::string(good))]),
                &mut diags,
            );
            assert!(diags.is_empty(), "{good:?} should be accepted: {diags:?}");
        }
        for bad in ["", "ends.", "has space", "slash/rg", &"a".repeat(91)] {
            let mut diags = Diagnostics::new();
            check_resource_group_name(
                &config(&[("resource_group_name", Value::string(bad))]),
                &mut diags,
            );
            assert_eq!(paths(&diags), ["resource_group_name"], "{bad:?}");
        }
    }

    #[test]
    fn tags_are_counted_with_the_providers_own_and_checked_by_key() {
        let many: BTreeMap<String, Value> = (0..49)
            .map(|i| (format!("k{i}"), Value::string("v")))
            .collect();
        let mut diags = Diagnostics::new();
        check_tags(
            &config(&[("tags", Value::Map(many.clone()))]),
            1,
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        check_tags(&config(&[("tags", Value::Map(many))]), 3, &mut diags);
        assert_eq!(paths(&diags), ["tags"]);
        assert!(diags.iter().any(|d| d.detail.contains("remove 2 tags")));

        let mut diags = Diagnostics::new();
        let odd = BTreeMap::from([
            ("a/b".to_string(), Value::string("v")),
            ("long".to_string(), Value::string("x".repeat(257))),
        ]);
        check_tags(&config(&[("tags", Value::Map(odd))]), 0, &mut diags);
        assert_eq!(paths(&diags), ["tags[\"a/b\"]", "tags[\"long\"]"]);
    }
}
