//! docs/ against the schema Terraform itself reports (`terraform providers schema -json`): every attribute is
//! documented in the right section (Required / Optional / Read-Only) with its schema description, and every
//! documented attribute exists. Docs cannot drift from code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use largek8s_acceptance::{required_providers, Transport, Workspace};
use serde_json::Value;

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
}

fn provider_schema() -> Value {
    let ws = Workspace::new(Transport::AutoMtls);
    ws.write("main.tf", &required_providers());
    let run = ws.terraform(&["providers", "schema", "-json"]);
    assert!(
        run.success,
        "terraform providers schema failed:\n{}",
        run.text()
    );
    let all: Value = serde_json::from_str(&run.stdout).expect("schema JSON");
    all["provider_schemas"]["registry.terraform.io/largek8s/largek8s"].clone()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Required,
    Optional,
    ReadOnly,
}

/// Top-level attribute bullets (`- \`name\` (Type) description`) by the section heading they sit under; bullets
/// under "Nested Schema" headings are collected separately.
struct Doc {
    text: String,
    top: BTreeMap<String, (Section, String)>,
    nested: BTreeMap<String, String>,
}

fn read_doc(path: &Path) -> Doc {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} is missing: {e}", path.display()));
    assert!(
        text.starts_with("---\n"),
        "{} needs Registry front matter",
        path.display()
    );
    assert!(
        text.contains("page_title:"),
        "{} front matter needs page_title",
        path.display()
    );
    let mut top = BTreeMap::new();
    let mut nested = BTreeMap::new();
    let mut section: Option<Section> = None;
    let mut in_nested = false;
    for line in text.lines() {
        if line.starts_with('#') {
            in_nested = line.contains("Nested Schema");
            section = if line.contains("Required") {
                Some(Section::Required)
            } else if line.contains("Optional") || line.contains("Argument Reference") {
                Some(Section::Optional)
            } else if line.contains("Read-Only") || line.contains("Attribute Reference") {
                Some(Section::ReadOnly)
            } else {
                None
            };
            continue;
        }
        let Some(rest) = line.strip_prefix("- `") else {
            continue;
        };
        let Some((name, tail)) = rest.split_once('`') else {
            continue;
        };
        if in_nested {
            nested.insert(name.to_string(), tail.to_string());
        } else if let Some(section) = section {
            top.insert(name.to_string(), (section, tail.to_string()));
        }
    }
    Doc { text, top, nested }
}

/// The schema description's first sentence, which the doc line must repeat.
fn first_sentence(description: &str) -> String {
    let end = description.find(". ").map_or(description.len(), |i| i + 1);
    description[..end].trim().to_string()
}

fn check_block(what: &str, block: &Value, doc: &Doc, provider_block: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let attrs = block["attributes"].as_object().cloned().unwrap_or_default();
    for (name, attr) in &attrs {
        let expected = if attr["required"] == true {
            Section::Required
        } else if attr["optional"] == true || provider_block {
            Section::Optional
        } else {
            Section::ReadOnly
        };
        match doc.top.get(name) {
            None => problems.push(format!("{what}: `{name}` is not documented")),
            Some((section, _)) if *section != expected => problems.push(format!(
                "{what}: `{name}` is documented under {section:?}, the schema says {expected:?}"
            )),
            Some((_, line)) => {
                let sentence = first_sentence(attr["description"].as_str().unwrap_or_default());
                if sentence.is_empty() {
                    problems.push(format!("{what}: `{name}` has no description in the schema"));
                } else if !line.contains(&sentence) {
                    problems.push(format!(
                        "{what}: `{name}` doc line does not repeat the schema's {sentence:?}"
                    ));
                }
            }
        }
        if let Some(nested) = attr
            .get("nested_type")
            .and_then(|n| n["attributes"].as_object())
        {
            for inner in nested.keys() {
                if !doc.nested.contains_key(inner) {
                    problems.push(format!(
                        "{what}: nested attribute `{name}.{inner}` is not documented"
                    ));
                }
            }
        }
    }
    for name in doc.top.keys() {
        let is_block = block["block_types"].get(name).is_some();
        if !attrs.contains_key(name) && !is_block {
            problems.push(format!(
                "{what}: docs list `{name}`, which the schema does not have"
            ));
        }
    }
    if let Some(blocks) = block["block_types"].as_object() {
        for name in blocks.keys() {
            let heading = format!("## {}{}", name[..1].to_uppercase(), &name[1..]);
            if !doc.text.contains(&heading) {
                problems.push(format!(
                    "{what}: block `{name}` needs a {heading:?} section"
                ));
            }
        }
    }
    problems
}

/// The resource's examples (examples/resources/<type>/, which the examples test applies) appear in its
/// page verbatim: resource.tf as the example usage, import.tf and import.sh in the Import section.
fn check_examples(page: &str, type_name: &str, doc: &Doc) -> Vec<String> {
    let dir = docs_dir().join("../examples/resources").join(type_name);
    [("resource.tf", "terraform"), ("import.tf", "terraform"), ("import.sh", "shell")]
        .iter()
        .filter_map(|(file, language)| {
            let example = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            let block = format!("```{language}\n{example}```");
            (example.is_empty() || !doc.text.contains(&block)).then(|| {
                format!("{page}: needs examples/resources/{type_name}/{file} verbatim in a ```{language} block")
            })
        })
        .collect()
}

#[test]
fn docs_match_the_schema_terraform_reports() {
    let schema = provider_schema();
    let mut problems = Vec::new();

    let index = read_doc(&docs_dir().join("index.md"));
    problems.extend(check_block(
        "index.md",
        &schema["provider"]["block"],
        &index,
        true,
    ));

    for (kind, dir) in [
        ("resource_schemas", "resources"),
        ("data_source_schemas", "data-sources"),
    ] {
        for (type_name, s) in schema[kind].as_object().cloned().unwrap_or_default() {
            let file = type_name.trim_start_matches("largek8s_");
            let path = docs_dir().join(dir).join(format!("{file}.md"));
            let doc = read_doc(&path);
            for heading in ["## Example Usage"] {
                if !doc.text.contains(heading) {
                    problems.push(format!("{dir}/{file}.md: missing {heading:?}"));
                }
            }
            if kind == "resource_schemas" {
                if !doc.text.contains("## Import") {
                    problems.push(format!("{dir}/{file}.md: missing \"## Import\""));
                }
                problems.extend(check_examples(
                    &format!("{dir}/{file}.md"),
                    &type_name,
                    &doc,
                ));
            }
            problems.extend(check_block(
                &format!("{dir}/{file}.md"),
                &s["block"],
                &doc,
                false,
            ));
        }
    }

    for (name, f) in schema["functions"].as_object().cloned().unwrap_or_default() {
        let doc = read_doc(&docs_dir().join("functions").join(format!("{name}.md")));
        for p in f["parameters"].as_array().cloned().unwrap_or_default() {
            let pname = p["name"].as_str().unwrap_or_default();
            if !doc.text.contains(&format!("`{pname}`")) {
                problems.push(format!(
                    "functions/{name}.md: parameter `{pname}` is not documented"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/ and the schema disagree:\n- {}",
        problems.join("\n- ")
    );
}
