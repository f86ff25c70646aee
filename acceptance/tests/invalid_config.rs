//! Bad input through real Terraform: a table of invalid configurations of the three resources, the provider
//! block and the `pool_layout` function. Each row names the diagnostic it expects (severity, the attribute
//! Terraform highlights, a fragment of the message), and nothing may reach ARM but token and metadata calls.
//!
//! Rows are batched: one configuration holds every row of a stage, each row in its own block, and each
//! diagnostic is matched to its row by the address Terraform reports (or the block its range falls in).
//! Terraform's JSON diagnostics do not carry the provider's attribute path; they carry the source range
//! Terraform derived from it, so the test checks that the range is the value of the expected attribute (or
//! element) and not the whole block, which is where a diagnostic without a usable path lands.

use largek8s_acceptance::{
    required_providers, sim_control, sim_defaults as sim, Simulator, Transport, Workspace,
};
use serde_json::Value;

const RG: &str = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo";
const PROVIDER_ADDRESS: &str = "provider[\"registry.terraform.io/largek8s/largek8s\"]";
const PRINCIPAL: &str = "99999999-8888-7777-6666-555555555555";

fn subnet() -> String {
    format!("{RG}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes")
}

fn vnet() -> String {
    format!("{RG}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet")
}

fn avset(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Compute/availabilitySets/{name}")
}

fn nic(name: &str) -> String {
    format!("{RG}/providers/Microsoft.Network/networkInterfaces/{name}")
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// What a row configures.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Pool,
    LbGroup,
    VirtualNode,
    /// An aliased provider block (with a `largek8s_client_config` data source at plan, so Terraform
    /// configures it).
    Provider,
    /// An output calling `provider::largek8s::pool_layout(<set["call"]>)`.
    Function,
}

/// One invalid configuration and the diagnostic it must produce.
struct Row {
    kind: Kind,
    label: &'static str,
    /// Attribute overrides as HCL expressions; `None` removes a base attribute; the key `block` adds its
    /// value verbatim (for the `timeouts` block).
    set: Vec<(&'static str, Option<String>)>,
    severity: &'static str,
    /// The attribute is absent from the configuration, so Terraform can only point at the block.
    absent: bool,
    /// The attribute path the provider reports, in Terraform reference syntax (`rules[0].protocol`); empty
    /// for function calls, where the range must cover `highlight` instead.
    path: &'static str,
    highlight: &'static str,
    /// Fragments that must all appear in the summary or detail.
    fragments: Vec<&'static str>,
}

fn row(
    kind: Kind,
    label: &'static str,
    set: &[(&'static str, &str)],
    path: &'static str,
    fragments: &[&'static str],
) -> Row {
    Row {
        kind,
        label,
        set: set
            .iter()
            .map(|(k, v)| (*k, (*v != "-").then(|| v.to_string())))
            .collect(),
        severity: "error",
        absent: false,
        path,
        highlight: "",
        fragments: fragments.to_vec(),
    }
}

impl Row {
    fn warning(mut self) -> Self {
        self.severity = "warning";
        self
    }

    fn absent(mut self) -> Self {
        self.absent = true;
        self
    }

    fn address(&self) -> String {
        match self.kind {
            Kind::Pool => format!("largek8s_pool.{}", self.label),
            Kind::LbGroup => format!("largek8s_lb_group.{}", self.label),
            Kind::VirtualNode => format!("largek8s_virtual_node.{}", self.label),
            Kind::Provider => format!("{PROVIDER_ADDRESS}.{}", self.label),
            Kind::Function => format!("output.{}", self.label),
        }
    }
}

fn base(kind: Kind, url: &str) -> Vec<(&'static str, String)> {
    match kind {
        Kind::Pool => vec![
            ("name", quoted("agents")),
            ("resource_group_name", quoted("largek8s-demo")),
            ("location", quoted("westeurope")),
            ("node_count", "1".into()),
            ("vm_size", quoted("Standard_D2s_v5")),
            ("subnet_id", quoted(&subnet())),
            ("admin_username", quoted("azureuser")),
            (
                "ssh_public_keys",
                "[\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE largek8s\"]".into(),
            ),
        ],
        Kind::LbGroup => vec![
            ("name", quoted("web")),
            ("resource_group_name", quoted("largek8s-demo")),
            ("location", quoted("westeurope")),
            (
                "backend_sets",
                format!(
                    "[{{ availability_set_id = \"{}\", nic_ids = [\"{}\"] }}]",
                    avset("agents-as-0"),
                    nic("agents-0-0-nic")
                ),
            ),
        ],
        Kind::VirtualNode => vec![
            ("virtual_network_id", quoted(&vnet())),
            ("subnet_name", quoted("virtual-node-aci")),
            ("address_prefix", quoted("10.0.16.0/24")),
            ("principal_id", quoted(PRINCIPAL)),
        ],
        Kind::Provider => vec![
            ("subscription_id", quoted(sim::SUBSCRIPTION)),
            ("tenant_id", quoted(sim::TENANT)),
            ("client_id", quoted(sim::CLIENT_ID)),
            ("client_secret", quoted(sim::CLIENT_SECRET)),
            ("arm_endpoint", quoted(url)),
        ],
        Kind::Function => vec![("call", "1, 100".into())],
    }
}

/// The HCL of one row (`with_base` false for provider rows judged at validate, which need no credentials).
fn render(row: &Row, url: &str, with_base: bool) -> String {
    let mut attrs: Vec<(&str, String)> = if with_base || row.kind != Kind::Provider {
        base(row.kind, url)
    } else {
        Vec::new()
    };
    let mut blocks = String::new();
    for (key, value) in &row.set {
        match (key, value) {
            (&"block", Some(text)) => blocks.push_str(&format!("  {text}\n")),
            (key, None) => attrs.retain(|(k, _)| k != key),
            (key, Some(v)) => match attrs.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = v.clone(),
                None => attrs.push((key, v.clone())),
            },
        }
    }
    let body: String = attrs
        .iter()
        .map(|(k, v)| format!("  {k} = {v}\n"))
        .collect();
    match row.kind {
        Kind::Pool => format!(
            "resource \"largek8s_pool\" \"{}\" {{\n{body}{blocks}}}\n",
            row.label
        ),
        Kind::LbGroup => format!(
            "resource \"largek8s_lb_group\" \"{}\" {{\n{body}{blocks}}}\n",
            row.label
        ),
        Kind::VirtualNode => format!(
            "resource \"largek8s_virtual_node\" \"{}\" {{\n{body}{blocks}}}\n",
            row.label
        ),
        Kind::Provider => {
            // Terraform validates and configures only the provider blocks something uses.
            let data = format!(
                "data \"largek8s_client_config\" \"{0}\" {{\n  provider = largek8s.{0}\n}}\n",
                row.label
            );
            format!(
                "provider \"largek8s\" {{\n  alias = \"{}\"\n{body}}}\n{data}",
                row.label
            )
        }
        Kind::Function => {
            let call = attrs
                .iter()
                .find(|(k, _)| *k == "call")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            format!(
                "output \"{}\" {{\n  value = provider::largek8s::pool_layout({call})\n}}\n",
                row.label
            )
        }
    }
}

/// A configuration holding `rows` (plus `extra` HCL), with the byte span of each row's text.
struct Config {
    text: String,
    spans: Vec<(usize, usize)>,
}

fn config(rows: &[Row], url: &str, provider: &str, extra: &str, with_base: bool) -> Config {
    let mut text = format!("{}\n{provider}\n{extra}\n", required_providers());
    let mut spans = Vec::new();
    for row in rows {
        let start = text.len();
        text.push_str(&render(row, url, with_base));
        spans.push((start, text.len()));
        text.push('\n');
    }
    Config { text, spans }
}

/// The diagnostics of `terraform validate -json` or `terraform plan -json` output.
fn diagnostics(stdout: &str) -> Vec<Value> {
    if let Ok(doc) = serde_json::from_str::<Value>(stdout) {
        if let Some(list) = doc.get("diagnostics").and_then(Value::as_array) {
            return list.clone();
        }
    }
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "diagnostic")
        .map(|v| v["diagnostic"].clone())
        .collect()
}

/// The part of `path` Terraform 1.11 can highlight: the first attribute and one element of it, or an
/// attribute of the `timeouts` block; the provider cuts deeper paths to this and names them in the detail.
fn placed(path: &str) -> &str {
    if path.starts_with("timeouts.") {
        return path;
    }
    match path.find('.') {
        Some(dot) => &path[..dot],
        None => path,
    }
}

/// The last attribute (or quoted map key) of `path`, and whether list elements follow it.
fn leaf(path: &str) -> (String, bool) {
    if let Some((_, key)) = path.strip_suffix("\"]").and_then(|p| p.rsplit_once("[\"")) {
        return (format!("\"{key}\""), false);
    }
    let trimmed = path.trim_end_matches(|c: char| c == ']' || c == '[' || c.is_ascii_digit());
    let name = trimmed.rsplit('.').next().unwrap_or(trimmed);
    (name.to_string(), trimmed.len() != path.len())
}

/// Why diagnostic `d` is not the one `row` expects, or None when it is.
fn mismatch(row: &Row, d: &Value, config: &Config) -> Option<String> {
    if d["severity"] != row.severity {
        return Some(format!(
            "severity {} instead of {}",
            d["severity"], row.severity
        ));
    }
    let message = format!(
        "{} {}",
        d["summary"].as_str().unwrap_or(""),
        d["detail"].as_str().unwrap_or("")
    );
    if let Some(missing) = row.fragments.iter().find(|f| !message.contains(*f)) {
        return Some(format!("message lacks {missing:?}: {message}"));
    }
    let byte = |end: &str| {
        d["range"][end]["byte"]
            .as_u64()
            .and_then(|b| usize::try_from(b).ok())
    };
    let (Some(start), Some(end)) = (byte("start"), byte("end")) else {
        return Some(format!("no source range: {message}"));
    };
    let highlighted = config.text.get(start..end).unwrap_or("");
    let line_start = config.text[..start.min(config.text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let before = config.text.get(line_start..start).unwrap_or("").trim_end();
    if row.path.is_empty() {
        return (!highlighted.contains(row.highlight))
            .then(|| format!("range covers {highlighted:?}, not {:?}", row.highlight));
    }
    if row.absent {
        let header = before.starts_with("provider ") || before.starts_with("resource ");
        let named = message.contains(row.path);
        return (!(highlighted == "{" && header && named)).then(|| {
            format!("expected the block's brace and a message naming {}: {highlighted:?} after {before:?}: {message}", row.path)
        });
    }
    let placed = placed(row.path);
    if placed != row.path && !message.contains(row.path) {
        return Some(format!("message does not name {}: {message}", row.path));
    }
    let (name, indexed) = leaf(placed);
    // A map element's range is the string's content, inside the quotes.
    let before = before.strip_suffix('"').unwrap_or(before).trim_end();
    // A map key may be written quoted or bare.
    let on_attribute = before.ends_with(&format!("{name} ="))
        || before.ends_with(&format!("{} =", name.trim_matches('"')));
    let on_element = indexed && (before.ends_with('[') || before.ends_with(','));
    (!(on_attribute || on_element)).then(|| {
        format!(
            "range {highlighted:?} (after {before:?}) is not the value of {}",
            row.path
        )
    })
}

/// Matches every row to its diagnostic and fails on rows without one and on unclaimed diagnostics.
fn check(rows: &[Row], config: &Config, output: &str) -> usize {
    let diags: Vec<Value> = diagnostics(output)
        .into_iter()
        .filter(|d| d["summary"] != "Provider development overrides are in effect")
        .collect();
    let mut claimed = vec![false; diags.len()];
    let mut problems = Vec::new();
    for (row, &(from, to)) in rows.iter().zip(&config.spans) {
        let address = row.address();
        let mine: Vec<usize> = (0..diags.len())
            .filter(|&i| {
                let d = &diags[i];
                let byte = d["range"]["start"]["byte"].as_u64().unwrap_or(0) as usize;
                d["address"].as_str() == Some(address.as_str())
                    || (d.get("address").is_none() && (from..to).contains(&byte))
            })
            .collect();
        let mut reasons = Vec::new();
        match mine.iter().find(|&&i| {
            let why = mismatch(row, &diags[i], config);
            if let Some(why) = &why {
                reasons.push(why.clone());
            }
            why.is_none()
        }) {
            Some(&i) => claimed[i] = true,
            None => problems.push(format!(
                "{address} ({}): no matching diagnostic; {} seen: {reasons:?}",
                row.path,
                mine.len()
            )),
        }
        // A row is one mistake: any further error on the same block is unexpected.
        for &i in &mine {
            if !claimed[i] && diags[i]["severity"] == "error" {
                claimed[i] = true;
                problems.push(format!(
                    "{address}: unexpected extra diagnostic {} / {}",
                    diags[i]["summary"], diags[i]["detail"]
                ));
            }
        }
    }
    for (d, _) in diags.iter().zip(&claimed).filter(|(_, c)| !**c) {
        problems.push(format!("diagnostic no row expects: {d}"));
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}\n\n--- configuration\n{}",
        problems.len(),
        problems.join("\n"),
        config.text
    );
    rows.len()
}

/// ARM requests the simulator saw, by `METHOD resourceType`, leaving out token and metadata calls.
fn arm_requests(url: &str) -> Vec<String> {
    let (status, stats) = sim_control(url, "GET", "/_sim/stats", None);
    assert_eq!(status, 200, "GET /_sim/stats: {stats}");
    stats["requests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|r| r["resourceType"] != "auth")
        .map(|r| format!("{} {} x{}", r["method"], r["resourceType"], r["count"]))
        .collect()
}

fn workspace(with_credentials: bool) -> Workspace {
    let mut ws = Workspace::new(Transport::AutoMtls);
    if with_credentials {
        ws.env("ARM_SUBSCRIPTION_ID", sim::SUBSCRIPTION)
            .env("ARM_TENANT_ID", sim::TENANT)
            .env("ARM_CLIENT_ID", sim::CLIENT_ID)
            .env("ARM_CLIENT_SECRET", sim::CLIENT_SECRET);
    }
    ws
}

use Kind::{LbGroup, Pool, Provider, VirtualNode};

fn pool_rows() -> Vec<Row> {
    let vnet_id = quoted(&vnet());
    vec![
        row(Pool, "name_uppercase", &[("name", "\"Agents_1\"")], "name", &["Invalid pool name", "lowercase letter"]),
        row(Pool, "name_too_long", &[("name", &quoted(&"a".repeat(60)))], "name", &["at most"]),
        row(Pool, "name_trailing_hyphen", &[("name", "\"agents-\"")], "name", &["not end with a hyphen"]),
        row(Pool, "node_count_negative", &[("node_count", "-1")], "node_count", &["Invalid node_count", "0 to"]),
        row(Pool, "node_count_fraction", &[("node_count", "1.5")], "node_count", &["whole number"]),
        row(Pool, "node_count_huge", &[("node_count", "1000001")], "node_count", &["0 to 1000000"]),
        row(Pool, "max_nodes_per_set_zero", &[("max_nodes_per_set", "0")], "max_nodes_per_set", &["1 to 200"]),
        row(Pool, "max_nodes_per_set_201", &[("max_nodes_per_set", "201")], "max_nodes_per_set", &["1 to 200", "200 VMs"]),
        row(Pool, "update_domains_21", &[("update_domain_count", "21")], "update_domain_count", &["1 to 20"]),
        row(Pool, "update_domains_zero", &[("update_domain_count", "0")], "update_domain_count", &["1 to 20"]),
        row(Pool, "fault_domains_4", &[("fault_domain_count", "4")], "fault_domain_count", &["1 to 3"]),
        row(Pool, "subnet_id_malformed", &[("subnet_id", "\"/subscriptions/x/nodes\"")], "subnet_id", &["Invalid subnet_id", "/subnets/<subnet>"]),
        row(Pool, "subnet_id_is_a_vnet", &[("subnet_id", &vnet_id)], "subnet_id", &["Invalid subnet_id"]),
        row(Pool, "placement_unknown", &[("placement", "\"random\"")], "placement", &["Invalid placement"]),
        row(Pool, "image_id_not_an_image", &[("image", &format!("{{ id = {vnet_id} }}"))], "image.id", &["Microsoft.Compute/images"]),
        row(Pool, "image_ambiguous", &[("image", "{ id = \"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/images/i\", publisher = \"Canonical\" }")], "image", &["Ambiguous image", "not both"]),
        row(Pool, "os_disk_too_small", &[("os_disk", "{ size_gb = 8 }")], "os_disk.size_gb", &["30 to 4095"]),
        row(Pool, "os_disk_ultra", &[("os_disk", "{ storage_account_type = \"UltraSSD_LRS\" }")], "os_disk.storage_account_type", &["cannot back an OS disk", "Premium_LRS"]),
        row(Pool, "timeout_words", &[("block", "timeouts {\n    create = \"soon\"\n  }")], "timeouts.create", &["Invalid timeout", "not a duration"]),
        row(Pool, "timeout_too_long", &[("block", "timeouts {\n    delete = \"9000h\"\n  }")], "timeouts.delete", &["Invalid timeout"]),
        row(Pool, "admin_root", &[("admin_username", "\"root\"")], "admin_username", &["reserved"]),
        row(Pool, "admin_digit_first", &[("admin_username", "\"1ops\"")], "admin_username", &["letter or underscore"]),
        row(Pool, "no_ssh_keys", &[("ssh_public_keys", "[]")], "ssh_public_keys", &["No SSH public key"]),
        row(Pool, "ssh_key_dsa", &[("ssh_public_keys", "[\"ssh-ed25519 AAAA a\", \"ssh-dss AAAA b\"]")], "ssh_public_keys[1]", &["ssh_public_keys[1]", "ssh-rsa or ssh-ed25519"]),
        row(Pool, "resource_group_slash", &[("resource_group_name", "\"demo/rg\"")], "resource_group_name", &["Invalid resource_group_name"]),
        row(Pool, "tag_name_slash", &[("tags", "{ \"team/owner\" = \"x\" }")], "tags[\"team/owner\"]", &["Invalid tag name"]),
        row(Pool, "too_many_tags", &[("tags", "{ for i in range(48) : \"k${i}\" => \"v\" }")], "tags", &["Too many tags", "remove 1 tags"]),
    ]
}

fn lb_rows() -> Vec<Row> {
    let set = |extra: &str| {
        format!(
            "[{{ availability_set_id = \"{}\", nic_ids = [\"{}\"] }}{extra}]",
            avset("agents-as-0"),
            nic("agents-0-0-nic")
        )
    };
    let rule = |fields: &str| format!("[{{ name = \"a\", {fields} }}]");
    let probe = |fields: &str| format!("[{{ name = \"p\", {fields} }}]");
    let dns =
        |fields: &str| format!("{{ zone_resource_group_name = \"largek8s-demo\", {fields} }}");
    vec![
        row(LbGroup, "sku_premium", &[("sku", "\"Premium\"")], "sku", &["Unknown SKU", "\"Standard\" or \"Basic\""]),
        row(LbGroup, "sku_lowercase", &[("sku", "\"basic\"")], "sku", &["Unknown SKU"]),
        row(LbGroup, "standard_cap_zero", &[("max_backend_nodes", "0")], "max_backend_nodes", &["between 1 and 5000"]),
        row(LbGroup, "standard_cap_over", &[("max_backend_nodes", "5001")], "max_backend_nodes", &["between 1 and 5000"]),
        row(LbGroup, "basic_cap_over", &[("sku", "\"Basic\""), ("max_backend_nodes", "301")], "max_backend_nodes", &["Basic", "between 1 and 300"]),
        row(LbGroup, "internal_no_subnet", &[("internal", "true")], "internal", &["frontend_subnet_id is required"]),
        row(LbGroup, "frontend_subnet_malformed", &[("internal", "true"), ("frontend_subnet_id", &quoted(&vnet()))], "frontend_subnet_id", &["Invalid resource ID", "subnets"]),
        row(LbGroup, "backend_set_id_malformed", &[("backend_sets", "[{ availability_set_id = \"/bad\", nic_ids = [] }]")], "backend_sets[0].availability_set_id", &["Invalid resource ID", "availabilitySets"]),
        row(LbGroup, "backend_nic_malformed", &[("backend_sets", &format!("[{{ availability_set_id = \"{}\", nic_ids = [\"/nic\"] }}]", avset("a")))], "backend_sets[0].nic_ids[0]", &["networkInterfaces"]),
        row(LbGroup, "backend_set_shape", &[("backend_sets", "[{ name = \"agents-as-0\" }]")], "backend_sets[0]", &["Unrecognised backend set", "name"]),
        row(LbGroup, "backend_set_twice", &[("backend_sets", &set(&format!(", {{ availability_set_id = \"{}\", nic_ids = [] }}", avset("agents-as-0"))))], "backend_sets[1]", &["listed twice"]),
        row(
            LbGroup,
            "basic_set_over_cap",
            &[
                ("sku", "\"Basic\""),
                ("backend_sets", &format!("[{{ availability_set_id = \"{}\", nic_ids = [for i in range(150) : \"{}${{i}}\"] }}]", avset("big"), nic("n"))),
            ],
            "backend_sets[0]",
            &["holds 150 nodes", "at most 100", "raise max_backend_nodes up to 300"],
        ),
        row(LbGroup, "rule_protocol", &[("rules", &rule("protocol = \"Icmp\", frontend_port = 80, backend_port = 80"))], "rules[0].protocol", &["Tcp, Udp, All"]),
        row(LbGroup, "rule_frontend_zero", &[("rules", &rule("protocol = \"Tcp\", frontend_port = 0, backend_port = 80"))], "rules[0].frontend_port", &["1 to 65534"]),
        row(LbGroup, "rule_backend_high", &[("rules", &rule("protocol = \"Udp\", frontend_port = 53, backend_port = 65536"))], "rules[0].backend_port", &["1 to 65535"]),
        row(LbGroup, "rule_ha_ports", &[("rules", &rule("protocol = \"All\", frontend_port = 0, backend_port = 80"))], "rules[0].backend_port", &["HA-ports", "port 0"]),
        row(LbGroup, "rule_idle_timeout", &[("rules", &rule("protocol = \"Tcp\", frontend_port = 80, backend_port = 80, idle_timeout_in_minutes = 31"))], "rules[0].idle_timeout_in_minutes", &["4 to 30"]),
        row(LbGroup, "rule_same_frontend", &[("rules", "[{ name = \"a\", protocol = \"Tcp\", frontend_port = 80, backend_port = 80 }, { name = \"b\", protocol = \"Tcp\", frontend_port = 80, backend_port = 8080 }]")], "rules[1].frontend_port", &["one rule per frontend port"]),
        row(LbGroup, "rule_same_name", &[("rules", "[{ name = \"a\", protocol = \"Tcp\", frontend_port = 80, backend_port = 80 }, { name = \"a\", protocol = \"Tcp\", frontend_port = 443, backend_port = 443 }]")], "rules[1].name", &["Duplicate rule name"]),
        row(LbGroup, "rule_unknown_probe", &[("rules", &rule("protocol = \"Tcp\", frontend_port = 80, backend_port = 80, probe_name = \"nope\""))], "rules[0].probe_name", &["Unknown probe", "\"nope\""]),
        row(LbGroup, "too_many_rules", &[("rules", "[for i in range(301) : { name = \"r${i}\", protocol = \"Tcp\", frontend_port = i + 1, backend_port = 80 }]")], "rules", &["Too many rules", "remove 1 of the 301"]),
        row(LbGroup, "probe_protocol", &[("probes", &probe("protocol = \"Udp\", port = 80"))], "probes[0].protocol", &["Tcp, Http, Https"]),
        row(LbGroup, "probe_port_zero", &[("probes", &probe("protocol = \"Tcp\", port = 0"))], "probes[0].port", &["1 to 65535"]),
        row(LbGroup, "probe_http_no_path", &[("probes", &probe("protocol = \"Http\", port = 80"))], "probes[0]", &["set request_path"]),
        row(LbGroup, "probe_tcp_with_path", &[("probes", &probe("protocol = \"Tcp\", port = 80, request_path = \"/healthz\""))], "probes[0].request_path", &["remove request_path"]),
        row(LbGroup, "probe_interval", &[("probes", &probe("protocol = \"Tcp\", port = 80, interval_in_seconds = 2"))], "probes[0].interval_in_seconds", &["5 or more"]),
        row(LbGroup, "probe_count_zero", &[("probes", &probe("protocol = \"Tcp\", port = 80, number_of_probes = 0"))], "probes[0].number_of_probes", &["1 or more"]),
        row(LbGroup, "dns_zone_single_label", &[("dns", &dns("zone_name = \"localhost\", record_name = \"www\""))], "dns.zone_name", &["two or more labels"]),
        row(LbGroup, "dns_record_space", &[("dns", &dns("zone_name = \"example.com\", record_name = \"web front\""))], "dns.record_name", &["not a record set name"]),
        row(LbGroup, "dns_ttl_zero", &[("dns", &dns("zone_name = \"example.com\", record_name = \"www\", ttl = 0"))], "dns.ttl", &["from 1"]),
        row(LbGroup, "name_hyphen_first", &[("name", "\"-web\"")], "name", &["Invalid group name"]),
        row(LbGroup, "timeout_words", &[("block", "timeouts {\n    update = \"a while\"\n  }")], "timeouts.update", &["Invalid timeout"]),
        row(LbGroup, "tag_value_long", &[("tags", &format!("{{ note = \"{}\" }}", "x".repeat(257)))], "tags[\"note\"]", &["Tag value too long"]),
    ]
}

fn virtual_node_rows() -> Vec<Row> {
    vec![
        row(
            VirtualNode,
            "vnet_id_group",
            &[("virtual_network_id", &quoted(RG))],
            "virtual_network_id",
            &["Invalid virtual_network_id"],
        ),
        row(
            VirtualNode,
            "vnet_id_subnet",
            &[("virtual_network_id", &quoted(&subnet()))],
            "virtual_network_id",
            &["Invalid virtual_network_id"],
        ),
        row(
            VirtualNode,
            "cluster_id_vnet",
            &[("cluster_id", &quoted(&vnet()))],
            "cluster_id",
            &["Invalid cluster_id"],
        ),
        row(
            VirtualNode,
            "subnet_name_slash",
            &[("subnet_name", "\"aci/1\"")],
            "subnet_name",
            &["Invalid subnet_name"],
        ),
        row(
            VirtualNode,
            "prefix_octet",
            &[("address_prefix", "\"10.0.300.0/24\"")],
            "address_prefix",
            &["Invalid address_prefix", "10.0.16.0/24"],
        ),
        row(
            VirtualNode,
            "prefix_host_bits",
            &[("address_prefix", "\"10.0.16.1/24\"")],
            "address_prefix",
            &["10.0.16.0/24"],
        ),
        row(
            VirtualNode,
            "prefix_ipv6",
            &[("address_prefix", "\"fd00::/64\"")],
            "address_prefix",
            &["Invalid address_prefix"],
        ),
        row(
            VirtualNode,
            "prefix_too_small",
            &[("address_prefix", "\"10.0.16.0/30\"")],
            "address_prefix",
            &["/29 or larger"],
        ),
        row(
            VirtualNode,
            "principal_not_uuid",
            &[("principal_id", "\"aks-identity\"")],
            "principal_id",
            &["Invalid principal_id", "UUID"],
        ),
        row(
            VirtualNode,
            "role_owner",
            &[("role", "\"Owner\"")],
            "role",
            &["Invalid role", "Network Contributor"],
        ),
        row(
            VirtualNode,
            "os_windows",
            &[("os_type", "\"Windows\"")],
            "os_type",
            &["Unsupported os_type", "Linux"],
        ),
        row(
            VirtualNode,
            "timeout_words",
            &[("block", "timeouts {\n    read = \"later\"\n  }")],
            "timeouts.read",
            &["Invalid timeout"],
        ),
    ]
}

/// Provider blocks judged by ValidateProviderConfig, before anything is resolved.
fn provider_validate_rows() -> Vec<Row> {
    vec![
        row(
            Provider,
            "env_mars",
            &[("environment", "\"mars\"")],
            "environment",
            &["Unknown Azure environment", "metadata_host"],
        ),
        row(
            Provider,
            "concurrency_zero",
            &[("max_concurrency", "0")],
            "max_concurrency",
            &["1 to"],
        ),
        row(
            Provider,
            "concurrency_fraction",
            &[("max_concurrency", "2.5")],
            "max_concurrency",
            &["whole number"],
        ),
        row(
            Provider,
            "secret_twice",
            &[
                ("client_secret", "\"s\""),
                ("client_secret_file_path", "\"/run/secret\""),
            ],
            "client_secret_file_path",
            &["not both"],
        ),
        row(
            Provider,
            "client_id_twice",
            &[
                ("client_id", "\"c\""),
                ("client_id_file_path", "\"/run/id\""),
            ],
            "client_id_file_path",
            &["not both"],
        ),
        row(
            Provider,
            "oidc_token_twice",
            &[
                ("oidc_token", "\"t\""),
                ("oidc_token_file_path", "\"/run/t\""),
            ],
            "oidc_token_file_path",
            &["not both"],
        ),
        row(
            Provider,
            "http_not_loopback",
            &[("arm_endpoint", "\"http://management.example.com\"")],
            "arm_endpoint",
            &["plain http", "not loopback"],
        ),
        row(
            Provider,
            "http_private_address",
            &[("arm_endpoint", "\"http://10.1.2.3:8080\"")],
            "arm_endpoint",
            &["not loopback"],
        ),
        row(
            Provider,
            "ftp_endpoint",
            &[("arm_endpoint", "\"ftp://127.0.0.1\"")],
            "arm_endpoint",
            &["use https"],
        ),
        row(
            Provider,
            "endpoint_not_url",
            &[("arm_endpoint", "\"management azure com\"")],
            "arm_endpoint",
            &["not a URL"],
        ),
    ]
}

/// Provider blocks that are fine on their own but contradictory or incomplete once resolved
/// (ConfigureProvider, at plan).
fn provider_configure_rows() -> Vec<Row> {
    vec![
        row(
            Provider,
            "no_subscription",
            &[("subscription_id", "-")],
            "subscription_id",
            &["subscription", "ARM_SUBSCRIPTION_ID"],
        )
        .absent(),
        row(
            Provider,
            "oidc_and_msi",
            &[
                ("client_secret", "-"),
                ("use_oidc", "true"),
                ("oidc_token", "\"t\""),
                ("use_msi", "true"),
            ],
            "use_msi",
            &["enable one way"],
        ),
        row(
            Provider,
            "msi_and_secret",
            &[("use_msi", "true")],
            "client_secret",
            &["use_msi", "remove one"],
        ),
        row(
            Provider,
            "cli_and_secret",
            &[("use_cli", "true")],
            "use_cli",
            &["use_cli is enabled together with client_secret"],
        ),
        row(
            Provider,
            "environment_and_endpoint",
            &[("environment", "\"public\"")],
            "environment",
            &["custom endpoint", "set one"],
        ),
        row(
            Provider,
            "metadata_and_endpoint",
            &[("metadata_host", "\"127.0.0.1:1\"")],
            "arm_endpoint",
            &["both set"],
        ),
        row(
            Provider,
            "secret_file_missing",
            &[
                ("client_secret", "-"),
                (
                    "client_secret_file_path",
                    "\"/nonexistent/largek8s-secret\"",
                ),
            ],
            "client_secret_file_path",
            &["cannot read"],
        ),
        row(
            Provider,
            "oidc_without_token",
            &[("client_secret", "-"), ("use_oidc", "true")],
            "oidc_token",
            &["no ID token is configured", "oidc_request_url"],
        )
        .absent(),
        row(
            LbGroup,
            "basic_on_public_azure",
            &[("provider", "largek8s.public"), ("sku", "\"Basic\"")],
            "sku",
            &["retired", "2025-09-30", "sku = \"Standard\""],
        )
        .warning(),
    ]
}

/// `pool_layout` calls with arguments it refuses; Terraform calls functions whose arguments are known
/// while validating.
fn function_rows() -> Vec<Row> {
    let function = |label: &'static str,
                    call: &'static str,
                    highlight: &'static str,
                    fragments: &[&'static str]| Row {
        highlight,
        ..row(Kind::Function, label, &[("call", call)], "", fragments)
    };
    vec![
        function(
            "layout_negative",
            "-1, 100",
            "-",
            &["node_count", "must not be negative"],
        ),
        function("layout_fraction", "2.5, 100", "2.5", &["node_count"]),
        function(
            "layout_cap_zero",
            "10, 0",
            "0",
            &["max_nodes_per_set", "between 1 and 200"],
        ),
        function(
            "layout_cap_over",
            "10, 201",
            "201",
            &["max_nodes_per_set", "got 201"],
        ),
    ]
}

/// Rows that need plan-time knowledge: the simulator's VNet, a pool's planned layout.
fn plan_rows() -> Vec<Row> {
    vec![
        row(
            VirtualNode,
            "prefix_outside_vnet",
            &[("address_prefix", "\"10.1.0.0/24\"")],
            "address_prefix",
            &["outside the virtual network", "10.1.0.0/24", "10.0.0.0/16"],
        ),
        row(
            VirtualNode,
            "prefix_overlaps_nodes",
            &[("address_prefix", "\"10.0.1.0/24\"")],
            "address_prefix",
            &["overlaps", "10.0.1.0/24", "10.0.0.0/20", "nodes"],
        ),
        row(
            LbGroup,
            "basic_pool_set_over_cap",
            &[
                ("sku", "\"Basic\""),
                ("backend_sets", "largek8s_pool.big.availability_sets"),
            ],
            "backend_sets[0]",
            &["holds 150 nodes", "max_nodes_per_set <= 100"],
        ),
    ]
}

#[test]
fn invalid_configurations_fail_on_the_attribute_and_send_nothing_to_arm() {
    let simulator = Simulator::start(&["--seed", "demo", "--time-scale", "2000"]);
    let url = &simulator.url;
    let provider = format!("provider \"largek8s\" {{\n  arm_endpoint = \"{url}\"\n}}\n");
    let mut total = 0;

    // 1. Every resource row and the statically invalid provider blocks, in one `terraform validate`.
    let ws = workspace(true);
    let mut rows = pool_rows();
    rows.extend(lb_rows());
    rows.extend(virtual_node_rows());
    rows.extend(provider_validate_rows());
    rows.extend(function_rows());
    let validate = config(&rows, url, &provider, "", false);
    ws.write("main.tf", &validate.text);
    let run = ws.terraform(&["validate", "-json", "-no-color"]);
    assert!(!run.success, "validate should fail:\n{}", run.text());
    total += check(&rows, &validate, &run.stdout);
    let (_, stats) = sim_control(url, "GET", "/_sim/stats", None);
    assert_eq!(
        stats["total"], 0,
        "validate sends nothing at all, not even a token request: {stats}"
    );

    // 2. Plan-time rows: the VNet is read, nothing is written.
    let big_pool = "resource \"largek8s_pool\" \"big\" {\n  name = \"big\"\n  resource_group_name = \"largek8s-demo\"\n  \
         location = \"westeurope\"\n  node_count = 150\n  max_nodes_per_set = 150\n  vm_size = \"Standard_D2s_v5\"\n  \
         subnet_id = \"SUBNET\"\n  admin_username = \"azureuser\"\n  ssh_public_keys = [\"ssh-ed25519 AAAA big\"]\n}\n"
        .replace("SUBNET", &subnet());
    let rows = plan_rows();
    let plan = config(&rows, url, &provider, &big_pool, true);
    ws.write("main.tf", &plan.text);
    let run = ws.terraform(&["plan", "-json", "-no-color"]);
    assert!(!run.success, "plan should fail:\n{}", run.text());
    total += check(&rows, &plan, &run.stdout);
    let writes: Vec<String> = arm_requests(url)
        .into_iter()
        .filter(|r| !r.starts_with("\"GET\""))
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "plan must not write to ARM");

    // 3. Provider blocks that only fail once resolved, each configured by its own data source, without
    // credentials in the environment so that the blocks alone decide.
    let ws = workspace(false);
    let rows = provider_configure_rows();
    // Public Azure, where Basic load balancers draw a retirement warning; planning a group with literal
    // backend sets needs no call to Azure.
    let public = format!(
        "provider \"largek8s\" {{\n  alias = \"public\"\n  environment = \"public\"\n  subscription_id = \"{}\"\n  \
         tenant_id = \"{}\"\n  client_id = \"{}\"\n  client_secret = \"{}\"\n}}\n",
        sim::SUBSCRIPTION,
        sim::TENANT,
        sim::CLIENT_ID,
        sim::CLIENT_SECRET
    );
    let configure = config(&rows, url, "", &public, true);
    ws.write("main.tf", &configure.text);
    let run = ws.terraform(&["plan", "-json", "-no-color"]);
    assert!(!run.success, "plan should fail:\n{}", run.text());
    total += check(&rows, &configure, &run.stdout);
    assert_eq!(
        arm_requests(url)
            .into_iter()
            .filter(|r| !r.starts_with("\"GET\""))
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "no ARM write"
    );

    assert!(total >= 50, "only {total} rows");
    eprintln!("{total} invalid configurations checked");
}

#[test]
fn leaf_finds_the_last_attribute_or_key() {
    assert_eq!(leaf("rules[0].protocol"), ("protocol".into(), false));
    assert_eq!(leaf("backend_sets[0]"), ("backend_sets".into(), true));
    assert_eq!(leaf("tags[\"a/b\"]"), ("\"a/b\"".into(), false));
    assert_eq!(leaf("node_count"), ("node_count".into(), false));
    assert_eq!(placed("rules[0].protocol"), "rules[0]");
    assert_eq!(placed("dns.ttl"), "dns");
    assert_eq!(placed("timeouts.create"), "timeouts.create");
}
