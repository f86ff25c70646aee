//! Credentials are checked when Terraform configures the provider, as the azurerm provider checks them: a plan
//! with a refused client secret or OIDC token fails with Entra's error code, never shows the secret, and
//! writes nothing to Azure. The token obtained then serves the plan's requests, and a provider block that is
//! known only after apply defers the check.

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, Run, Simulator, Transport, Workspace,
};

const SUBNET: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes";

/// A client secret the simulator does not know, unlike any other text in a plan.
const WRONG_SECRET: &str = "wrong-secret-5d81c7e2";

/// An ID token that is no JWT: Entra refuses it as malformed (AADSTS50027).
const WRONG_OIDC_TOKEN: &str = "not-a-jwt-0b7e44f1";

/// A pool to create: planning it needs no ARM read.
const POOL: &str = "resource \"largek8s_pool\" \"p\" {\n  name                = \"creds\"\n  \
    resource_group_name = \"largek8s-demo\"\n  location            = \"westeurope\"\n  \
    vm_size             = \"Standard_D2s_v5\"\n  subnet_id           = \"SUBNET\"\n  \
    admin_username      = \"azureuser\"\n  ssh_public_keys     = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE creds\"]\n  \
    node_count          = 3\n}\n";

/// A virtual node to create: planning it reads the virtual network, to check the prefix fits.
const VIRTUAL_NODE: &str = "resource \"largek8s_virtual_node\" \"aci\" {\n  \
    virtual_network_id = \"VNET\"\n  subnet_name        = \"virtual-node-aci\"\n  \
    address_prefix     = \"10.0.16.0/24\"\n  principal_id       = \"99999999-8888-7777-6666-555555555555\"\n}\n";

/// A configuration creating `resource`, with `credential` lines in the provider block.
fn config(url: &str, credential: &str, resource: &str) -> String {
    let vnet = SUBNET.trim_end_matches("/subnets/nodes");
    format!(
        "{}\nprovider \"largek8s\" {{\n  arm_endpoint    = \"{url}\"\n  subscription_id = \"{}\"\n  \
         tenant_id       = \"{}\"\n  client_id       = \"{}\"\n{credential}}}\n\n{}",
        required_providers(),
        sim::SUBSCRIPTION,
        sim::TENANT,
        sim::CLIENT_ID,
        resource.replace("SUBNET", SUBNET).replace("VNET", vnet),
    )
}

/// Terraform wraps diagnostics to the terminal's width: compare text with runs of whitespace as one space.
fn squashed(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The simulator's request counters as (method, resource type, status, count). Token requests and the cloud
/// metadata document count as resource type `auth`.
fn requests(url: &str) -> Vec<(String, String, u64, u64)> {
    let (status, stats) = sim_control(url, "GET", "/_sim/stats", None);
    assert_eq!(status, 200, "GET /_sim/stats: {stats}");
    stats["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r["method"].as_str().unwrap_or_default().to_string(),
                r["resourceType"].as_str().unwrap_or_default().to_string(),
                r["status"].as_u64().unwrap_or_default(),
                r["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

/// Runs `terraform plan` with a trace log, and returns the run and the log.
fn plan_with_trace(ws: &mut Workspace) -> (Run, String) {
    let log_path = ws.path().join("plan.log");
    ws.env("TF_LOG_PATH", &log_path.display().to_string())
        .env("TF_LOG", "trace")
        .env("TF_LOG_PROVIDER", "trace");
    let run = ws.terraform(&["plan", "-no-color"]);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    (run, log)
}

/// The plan failed on the provider block with Entra's code, the secret appears nowhere, and the only
/// requests the simulator saw were refused token requests.
fn assert_refused_at_configure(
    simulator: &Simulator,
    run: &Run,
    log: &str,
    secret: &str,
    credential: &str,
    entra_code: &str,
) {
    assert!(!run.success, "plan must fail:\n{}", run.text());
    for expected in [
        format!("Cannot authenticate with {credential}"),
        entra_code.to_string(),
        format!("tenant {}", sim::TENANT),
        format!("application {}", sim::CLIENT_ID),
        "with provider[\"registry.terraform.io/largek8s/largek8s\"]".to_string(),
    ] {
        assert!(
            squashed(&run.stderr).contains(&expected),
            "the diagnostic should contain {expected:?}:\n{}",
            run.text()
        );
    }
    assert!(
        !run.stdout.contains("will be created"),
        "nothing may be planned once the credential is refused:\n{}",
        run.text()
    );
    for (place, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("log", &log.to_string()),
    ] {
        assert!(
            !text.contains(secret),
            "the refused secret appears in {place}"
        );
    }
    assert!(
        log.contains("terraform-provider-largek8s"),
        "the trace log holds the provider's lines, or searching it proves nothing"
    );

    let seen = requests(&simulator.url);
    let not_token: Vec<_> = seen.iter().filter(|r| r.1 != "auth").collect();
    assert!(
        not_token.is_empty(),
        "nothing but token and metadata requests may reach the simulator: {not_token:?}"
    );
    assert!(
        seen.iter().any(|r| r.1 == "auth" && r.2 == 401),
        "the credential was really presented and refused: {seen:?}"
    );
}

#[test]
fn a_wrong_client_secret_fails_the_plan_with_entras_code_and_writes_nothing() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("ARM_CLIENT_SECRET", WRONG_SECRET);
    ws.write("main.tf", &config(&simulator.url, "", POOL));

    let (run, log) = plan_with_trace(&mut ws);
    assert_refused_at_configure(
        &simulator,
        &run,
        &log,
        WRONG_SECRET,
        "client secret",
        "AADSTS7000215",
    );
    assert!(
        squashed(&run.stderr).contains("ARM_CLIENT_SECRET"),
        "the diagnostic says where the secret comes from:\n{}",
        run.text()
    );
}

#[test]
fn a_wrong_oidc_token_fails_the_plan_with_entras_code_and_writes_nothing() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.write(
        "main.tf",
        &config(
            &simulator.url,
            &format!("  use_oidc        = true\n  oidc_token      = \"{WRONG_OIDC_TOKEN}\"\n"),
            POOL,
        ),
    );

    let (run, log) = plan_with_trace(&mut ws);
    assert_refused_at_configure(
        &simulator,
        &run,
        &log,
        WRONG_OIDC_TOKEN,
        "OIDC",
        "AADSTS50027",
    );
}

#[test]
fn the_token_obtained_at_configure_serves_the_plans_requests() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET);
    ws.write("main.tf", &config(&simulator.url, "", VIRTUAL_NODE));

    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(run.success, "plan failed:\n{}", run.text());
    assert!(
        run.stdout
            .contains("largek8s_virtual_node.aci will be created"),
        "{}",
        run.text()
    );
    let seen = requests(&simulator.url);
    // Token requests are POSTs; the GET under `auth` is the cloud metadata document.
    let tokens: u64 = seen
        .iter()
        .filter(|r| r.1 == "auth" && r.0 == "POST")
        .map(|r| r.3)
        .sum();
    let reads: u64 = seen
        .iter()
        .filter(|r| r.1 != "auth" && r.0 == "GET")
        .map(|r| r.3)
        .sum();
    assert!(
        reads > 0,
        "the plan reads Azure, or this proves nothing: {seen:?}"
    );
    assert_eq!(
        tokens, 1,
        "one token request, at configure, serves every read of the plan: {seen:?}"
    );
}

#[test]
fn a_provider_block_known_only_after_apply_defers_the_check() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let ws = Workspace::new(Transport::AutoMtls);
    // terraform_data's output is unknown until apply, so the whole provider block is too at plan time.
    let config = config(
        &simulator.url,
        "  client_secret   = terraform_data.secret.output\n",
        POOL,
    )
    .replace(
        "provider \"largek8s\"",
        &format!(
            "resource \"terraform_data\" \"secret\" {{\n  input = \"{WRONG_SECRET}\"\n}}\n\nprovider \"largek8s\""
        ),
    );
    ws.write("main.tf", &config);

    let run = ws.terraform(&["plan", "-no-color"]);
    assert!(
        run.success,
        "an unknown provider block is checked at apply, not at plan:\n{}",
        run.text()
    );
    let seen = requests(&simulator.url);
    assert!(
        seen.iter().all(|r| !(r.1 == "auth" && r.0 == "POST")),
        "no token may be requested for a credential not yet known: {seen:?}"
    );
}
