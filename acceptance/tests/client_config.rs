//! Provider configuration through real Terraform: ARM_* variables, attribute-level errors, and secrets
//! that never reach Terraform's output or logs.

use largek8s_acceptance::{
    required_providers, sim_defaults as sim, Simulator, Transport, Workspace,
};

fn config(provider_block: &str) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{\n{provider_block}}}\n\ndata \"largek8s_client_config\" \"current\" {{}}\n\n\
         output \"subscription_id\" {{\n  value = data.largek8s_client_config.current.subscription_id\n}}\n\
         output \"client_id\" {{\n  value = data.largek8s_client_config.current.client_id\n}}\n\
         output \"arm_endpoint\" {{\n  value = data.largek8s_client_config.current.arm_endpoint\n}}\n",
        required_providers()
    )
}

#[test]
fn client_config_reports_what_arm_variables_configure_and_hides_the_secret() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("ARM_SUBSCRIPTION_ID", sim::SUBSCRIPTION)
        .env("ARM_TENANT_ID", sim::TENANT)
        .env("ARM_CLIENT_ID", sim::CLIENT_ID)
        .env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET)
        .env("TF_LOG", "trace");
    ws.write(
        "main.tf",
        &config(&format!("  arm_endpoint = \"{}\"\n", simulator.url)),
    );
    let run = ws.terraform(&["apply", "-auto-approve", "-no-color"]);
    assert!(run.success, "apply failed:\n{}", run.text());
    assert_eq!(ws.output("subscription_id"), sim::SUBSCRIPTION);
    assert_eq!(ws.output("client_id"), sim::CLIENT_ID);
    assert!(ws
        .output("arm_endpoint")
        .as_str()
        .is_some_and(|u| u.starts_with(&simulator.url)));
    assert!(
        run.stderr.contains("provider.terraform-provider-largek8s"),
        "TF_LOG=trace should show the provider's own log lines"
    );
    let state = std::fs::read_to_string(ws.path().join("terraform.tfstate")).unwrap_or_default();
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("state", &state),
    ] {
        assert!(
            !text.contains(sim::CLIENT_SECRET),
            "the client secret leaked into {what}"
        );
    }
}

#[test]
fn a_missing_subscription_names_the_attribute_and_its_variable() {
    let mut ws = Workspace::new(Transport::Plaintext);
    ws.env("ARM_SUBSCRIPTION_ID", "")
        .env("ARM_CLIENT_ID", sim::CLIENT_ID)
        .env("ARM_TENANT_ID", sim::TENANT)
        .env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET);
    ws.write(
        "main.tf",
        &config("  arm_endpoint = \"http://127.0.0.1:9\"\n"),
    );
    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(!run.success, "plan should fail:\n{}", run.text());
    assert!(run.stderr.contains("subscription_id"), "{}", run.text());
    assert!(run.stderr.contains("ARM_SUBSCRIPTION_ID"), "{}", run.text());
}

#[test]
fn plain_http_to_a_remote_endpoint_is_refused_before_any_request() {
    let ws = Workspace::new(Transport::AutoMtls);
    ws.write(
        "main.tf",
        &config("  arm_endpoint = \"http://management.example.com\"\n  subscription_id = \"x\"\n"),
    );
    let run = ws.terraform(&["validate", "-no-color"]);
    assert!(!run.success, "{}", run.text());
    assert!(run.stderr.contains("plain http"), "{}", run.text());
    assert!(run.stderr.contains("arm_endpoint"), "{}", run.text());
}
