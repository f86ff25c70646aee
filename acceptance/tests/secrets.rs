//! Secrets stay out of everything Terraform and the provider write: a full scenario (apply, plan, an apply
//! that fails with an ARM error, destroy) with TF_LOG=trace and TF_LOG_PROVIDER=trace, then every output,
//! log file and state file is searched for the client secret, the simulator's bearer tokens and the pool's
//! custom_data. Also: ARM over plain http is refused unless the endpoint is loopback.

use base64::Engine;
use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, Run, Simulator, Transport, Workspace,
};

const SUBNET: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes";

/// A custom_data payload no other text contains.
const CUSTOM_DATA: &str = "#cloud-config\nwrite_files:\n- path: /etc/largek8s-token\n  content: custom-data-marker-7f3a9c\n";

/// The start of every JSON Web Token (`{"` base64url-encoded): the simulator's bearer tokens are JWTs.
const JWT_PREFIX: &str = "eyJ";

fn config(url: &str, node_count: u32) -> String {
    format!(
        "{}\nprovider \"largek8s\" {{\n  arm_endpoint    = \"{url}\"\n  subscription_id = \"{}\"\n  \
         tenant_id       = \"{}\"\n  client_id       = \"{}\"\n  client_secret   = \"{}\"\n}}\n\n\
         resource \"largek8s_pool\" \"p\" {{\n  name                = \"secret\"\n  resource_group_name = \"largek8s-demo\"\n  \
         location            = \"westeurope\"\n  vm_size             = \"Standard_D2s_v5\"\n  subnet_id           = \"{SUBNET}\"\n  \
         admin_username      = \"azureuser\"\n  ssh_public_keys     = [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE secrets\"]\n  \
         node_count          = {node_count}\n  custom_data         = {custom_data:?}\n}}\n",
        required_providers(),
        sim::SUBSCRIPTION,
        sim::TENANT,
        sim::CLIENT_ID,
        sim::CLIENT_SECRET,
        custom_data = CUSTOM_DATA,
    )
}

/// Everything a step left behind: its output and the trace log it wrote.
struct Step {
    name: &'static str,
    run: Run,
    log: String,
}

fn step(ws: &mut Workspace, name: &'static str, args: &[&str]) -> Step {
    let log_path = ws.path().join(format!("{name}.log"));
    ws.env("TF_LOG_PATH", &log_path.display().to_string());
    let run = ws.terraform(args);
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    Step { name, run, log }
}

#[test]
fn no_secret_reaches_output_logs_or_state_across_a_whole_lifecycle() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("TF_LOG", "trace").env("TF_LOG_PROVIDER", "trace");
    ws.write("main.tf", &config(&simulator.url, 2));

    let mut steps = vec![step(
        &mut ws,
        "apply",
        &["apply", "-auto-approve", "-no-color"],
    )];
    assert!(
        steps[0].run.success,
        "apply failed:\n{}",
        steps[0].run.text()
    );
    // Azure (and the simulator) never return customData, so the plan is where custom_data shows up: as a
    // write-only attribute, kept out of state by Terraform itself.
    assert!(
        steps[0].run.stdout.contains("custom_data")
            && steps[0].run.stdout.contains("(write-only attribute)"),
        "custom_data should be planned as write-only:\n{}",
        steps[0].run.stdout
    );
    steps.push(step(
        &mut ws,
        "plan",
        &["plan", "-detailed-exitcode", "-no-color"],
    ));
    assert!(
        steps[1].run.success,
        "plan after apply shows changes or fails:\n{}",
        steps[1].run.text()
    );

    let rule = serde_json::json!({"method": "PUT", "glob": "**/virtualMachines/secret-0-3", "times": 1, "status": 400,
        "error": {"code": "InvalidParameter", "message": "injected failure for the secrets test"}});
    let (status, body) = sim_control(&simulator.url, "POST", "/_sim/faults", Some(&rule));
    assert!(status < 300, "adding the fault failed: {status} {body}");
    ws.write("main.tf", &config(&simulator.url, 4));
    steps.push(step(
        &mut ws,
        "failing-apply",
        &["apply", "-auto-approve", "-no-color"],
    ));
    let failed = &steps[2].run;
    assert!(
        !failed.success
            && failed
                .stderr
                .contains("injected failure for the secrets test"),
        "the apply should fail with the ARM error:\n{}",
        failed.text()
    );
    steps.push(step(
        &mut ws,
        "destroy",
        &["destroy", "-auto-approve", "-no-color"],
    ));
    assert!(
        steps[3].run.success,
        "destroy failed:\n{}",
        steps[3].run.text()
    );

    // The logs are real trace logs with the provider's own lines in them, or the search below proves nothing.
    for s in &steps {
        assert!(
            s.log.contains("[TRACE]") && s.log.contains("terraform-provider-largek8s"),
            "{} wrote no provider trace log ({} bytes)",
            s.name,
            s.log.len()
        );
    }
    let provider_lines = steps
        .iter()
        .flat_map(|s| s.log.lines())
        .filter(|l| l.contains("terraform-provider-largek8s"))
        .count();
    assert!(
        provider_lines > 10,
        "only {provider_lines} provider log lines"
    );

    let encoded = base64::engine::general_purpose::STANDARD.encode(CUSTOM_DATA);
    let needles = [
        ("the client secret", sim::CLIENT_SECRET.to_string()),
        ("custom_data", "custom-data-marker-7f3a9c".to_string()),
        ("custom_data, base64-encoded", encoded),
    ];
    let mut texts: Vec<(String, String)> = Vec::new();
    for s in &steps {
        texts.push((format!("{} stdout", s.name), s.run.stdout.clone()));
        texts.push((format!("{} stderr", s.name), s.run.stderr.clone()));
        texts.push((format!("{} log", s.name), s.log.clone()));
    }
    for file in ["terraform.tfstate", "terraform.tfstate.backup"] {
        if let Ok(text) = std::fs::read_to_string(ws.path().join(file)) {
            texts.push((file.to_string(), text));
        }
    }
    let mut leaks = Vec::new();
    for (place, text) in &texts {
        for (what, needle) in &needles {
            if text.contains(needle.as_str()) {
                leaks.push(format!("{what} in {place}"));
            }
        }
        // Bearer tokens: the simulator mints JWTs, and nothing else here is one.
        if let Some(line) = text.lines().find(|l| l.contains(JWT_PREFIX)) {
            leaks.push(format!("a bearer token in {place}: {line}"));
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));

    // The secrets did reach Azure: the search above looked for values that were really used.
    let (_, state) = sim_control(&simulator.url, "GET", "/_sim/stats", None);
    assert!(
        state["byResourceType"]["auth"].as_u64().unwrap_or(0) > 0,
        "the provider never asked for a token: {state}"
    );
}

#[test]
fn arm_over_plain_http_is_refused_unless_the_endpoint_is_loopback() {
    let simulator = Simulator::start(&["--seed", "demo"]);
    let port = simulator
        .url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut ws = Workspace::new(Transport::AutoMtls);
    ws.env("ARM_SUBSCRIPTION_ID", sim::SUBSCRIPTION)
        .env("ARM_TENANT_ID", sim::TENANT)
        .env("ARM_CLIENT_ID", sim::CLIENT_ID)
        .env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET);
    ws.write(
        "main.tf",
        &format!(
            "{}\nprovider \"largek8s\" {{}}\n\ndata \"largek8s_client_config\" \"c\" {{}}\n\
             output \"subscription\" {{\n  value = data.largek8s_client_config.c.subscription_id\n}}\n",
            required_providers()
        ),
    );
    // From the environment, where the provider block cannot check it at validate time.
    for endpoint in ["http://management.example.com", "http://10.0.0.4:8080"] {
        ws.env("ARM_ENDPOINT", endpoint);
        let run = ws.terraform(&["plan", "-no-color"]);
        assert!(
            !run.success,
            "plan with ARM_ENDPOINT={endpoint} must fail:\n{}",
            run.text()
        );
        assert!(
            run.stderr.contains("plain http") && run.stderr.contains("loopback"),
            "the error explains the refusal for {endpoint}:\n{}",
            run.text()
        );
    }
    // Loopback by name and by address is the simulator's case, and works.
    for endpoint in [format!("http://localhost:{port}"), simulator.url.clone()] {
        ws.env("ARM_ENDPOINT", &endpoint);
        let run = ws.terraform(&["plan", "-no-color"]);
        assert!(
            run.success && run.stdout.contains(sim::SUBSCRIPTION),
            "plan with ARM_ENDPOINT={endpoint} should work:\n{}",
            run.text()
        );
    }
}
