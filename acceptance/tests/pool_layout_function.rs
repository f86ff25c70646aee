//! `provider::largek8s::pool_layout` through real Terraform, over AutoMTLS and over plaintext.

use largek8s_acceptance::{required_providers, Transport, Workspace};

fn config(body: &str) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{}}\n\n{body}\n",
        required_providers()
    )
}

fn apply_returns_the_layout(transport: Transport) {
    let ws = Workspace::new(transport);
    ws.write(
        "main.tf",
        &config("output \"layout\" {\n  value = provider::largek8s::pool_layout(450, 100)\n}\n"),
    );
    let run = ws.terraform(&["apply", "-auto-approve"]);
    assert!(run.success, "apply failed:\n{}", run.text());
    assert_eq!(
        ws.output("layout"),
        serde_json::json!([100, 100, 100, 100, 50])
    );
}

#[test]
fn apply_returns_the_layout_over_auto_mtls() {
    apply_returns_the_layout(Transport::AutoMtls);
}

#[test]
fn apply_returns_the_layout_over_plaintext() {
    apply_returns_the_layout(Transport::Plaintext);
}

fn cap_over_200_fails_the_plan_naming_the_argument(transport: Transport) {
    let ws = Workspace::new(transport);
    ws.write(
        "main.tf",
        &config("output \"layout\" {\n  value = provider::largek8s::pool_layout(10, 201)\n}\n"),
    );
    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(!run.success, "plan should fail:\n{}", run.text());
    assert!(run.stderr.contains("max_nodes_per_set"), "{}", run.text());
    assert!(run.stderr.contains("201"), "{}", run.text());
}

#[test]
fn cap_over_200_fails_the_plan_over_auto_mtls() {
    cap_over_200_fails_the_plan_naming_the_argument(Transport::AutoMtls);
}

#[test]
fn cap_over_200_fails_the_plan_over_plaintext() {
    cap_over_200_fails_the_plan_naming_the_argument(Transport::Plaintext);
}

#[test]
fn negative_node_count_fails_naming_node_count() {
    let ws = Workspace::new(Transport::AutoMtls);
    ws.write(
        "main.tf",
        &config("output \"layout\" {\n  value = provider::largek8s::pool_layout(-5, 100)\n}\n"),
    );
    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(!run.success, "{}", run.text());
    assert!(
        run.stderr.contains("node_count must not be negative"),
        "{}",
        run.text()
    );
}

fn validate_points_at_a_mistyped_provider_argument(transport: Transport) {
    let ws = Workspace::new(transport);
    ws.write(
        "main.tf",
        &format!(
            "{}\nprovider \"largek8s\" {{\n  max_concurrency = \"lots\"\n}}\n\ndata \"largek8s_client_config\" \"current\" {{}}\n",
            required_providers()
        ),
    );
    let run = ws.terraform(&["validate", "-no-color"]);
    assert!(!run.success, "validate should fail:\n{}", run.text());
    assert!(run.stderr.contains("max_concurrency"), "{}", run.text());
    assert!(run.stderr.contains("number is required"), "{}", run.text());
}

#[test]
fn validate_points_at_a_mistyped_provider_argument_over_auto_mtls() {
    validate_points_at_a_mistyped_provider_argument(Transport::AutoMtls);
}

#[test]
fn validate_points_at_a_mistyped_provider_argument_over_plaintext() {
    validate_points_at_a_mistyped_provider_argument(Transport::Plaintext);
}

#[test]
fn provider_validation_rejects_an_unknown_cloud_with_its_attribute() {
    let ws = Workspace::new(Transport::AutoMtls);
    ws.write(
        "main.tf",
        &format!(
            "{}\nprovider \"largek8s\" {{\n  environment = \"mars\"\n}}\n\ndata \"largek8s_client_config\" \"current\" {{}}\n",
            required_providers()
        ),
    );
    let run = ws.terraform(&["validate", "-no-color"]);
    assert!(!run.success, "{}", run.text());
    assert!(
        run.stderr.contains("Unknown Azure environment"),
        "{}",
        run.text()
    );
    assert!(
        run.stderr.contains("environment = \"mars\""),
        "the diagnostic should show the attribute's line:\n{}",
        run.text()
    );
}
