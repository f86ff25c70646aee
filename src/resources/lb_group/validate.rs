//! The group's checks: what Azure would refuse at apply, found at validate and plan with the attribute and
//! the fix. Each check looks only at what is known.

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use crate::lb_layout::{self, Sku};
use crate::resources::naming;
use crate::tf::decode::Maybe;
use crate::tf::diagnostics::{Diagnostic, Diagnostics};
use crate::tf::number::Number;
use crate::tf::path::AttributePath;
use crate::tf::value::Value;

use super::spec::{
    known_entries, BackendPoolType, BackendSet, Config, DnsInput, ProbeInput, RuleInput,
};

/// Azure's rule protocols; `All` is the HA-ports rule of an internal Standard load balancer
/// (https://learn.microsoft.com/azure/load-balancer/load-balancer-ha-ports-overview).
const RULE_PROTOCOLS: [&str; 3] = ["Tcp", "Udp", "All"];
/// Probe protocols (https://learn.microsoft.com/azure/load-balancer/load-balancer-custom-probe-overview).
const PROBE_PROTOCOLS: [&str; 3] = ["Tcp", "Http", "Https"];
/// TCP idle timeout range in minutes, as the `idle_timeout_in_minutes` description states.
const IDLE_TIMEOUT_MINUTES: RangeInclusive<u64> = 4..=30;
/// Shortest probe interval Azure accepts, in seconds.
const MIN_PROBE_INTERVAL: u64 = 5;
/// The group's name prefixes `<name>-lb-<i>-pip`, which must fit Azure's 80 characters.
const MAX_GROUP_NAME: usize = 64;

/// Checks what is known of the configuration `value`, decoded as `config`. Runs at validate and again at
/// plan, where more is known. Returns the backend sets when their list is known.
pub fn check(value: &Value, config: &Config, diags: &mut Diagnostics) -> Option<Vec<BackendSet>> {
    let sku = config.sku();
    let cap = match (sku, &config.max_backend_nodes) {
        (Some(sku), Maybe::Known(None)) => Some(sku.default_backend()),
        (Some(sku), Maybe::Known(Some(n))) => match n.to_u64() {
            Some(cap) if lb_layout::check_cap(sku, cap).is_ok() => Some(cap),
            _ => {
                diags.push(
                    Diagnostic::error(
                        "max_backend_nodes out of range",
                        format!(
                            "A {} load balancer's backend pool holds at most {} IP configurations \
                             (https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer): \
                             set max_backend_nodes between 1 and {}.",
                            sku.as_str(),
                            sku.max_backend(),
                            sku.max_backend()
                        ),
                    )
                    .at(AttributePath::of("max_backend_nodes")),
                );
                None
            }
        },
        _ => None,
    };
    if sku == Some(Sku::Basic)
        && config.backend_pool_type.present() == Some(&BackendPoolType::NodeIp)
    {
        diags.push(
            Diagnostic::error(
                "NodeIP needs a Standard load balancer",
                "Azure's IP-based backend pools are for Standard load balancers only \
                 (https://learn.microsoft.com/azure/load-balancer/backend-pool-management#limitations): set \
                 backend_pool_type = \"NodeIPConfiguration\" (or leave it out) for a Basic group, or use sku = \"Standard\".",
            )
            .at(AttributePath::of("backend_pool_type")),
        );
    }
    if config.internal.present() == Some(&true) && config.frontend_subnet_id == Maybe::Known(None) {
        diags.push(
            Diagnostic::error(
                "frontend_subnet_id is required",
                "An internal group puts its frontends in a subnet: set frontend_subnet_id, or internal = false \
                 for public frontends.",
            )
            // On `internal`: frontend_subnet_id is absent, so Terraform could only point at the whole block.
            .at(AttributePath::of("internal")),
        );
    }
    if let Some(rules) = config.rules.present() {
        let count = rules.len() as u64;
        if !lb_layout::check_rule_count(count) {
            diags.push(
                Diagnostic::error(
                    "Too many rules",
                    format!(
                        "A NIC takes part in at most {} load-balancing rules \
                         (https://learn.microsoft.com/azure/azure-resource-manager/management/azure-subscription-service-limits#load-balancer), \
                         and every node carries all of its load balancer's rules: remove {} of the {count} rules.",
                        lb_layout::MAX_RULES_PER_NIC,
                        count - lb_layout::MAX_RULES_PER_NIC,
                    ),
                )
                .at(AttributePath::of("rules")),
            );
        }
    }
    check_probe_names(config, diags);
    check_rules(config, diags);
    check_probes(config, diags);
    check_dns(config, diags);
    check_group_name(config, diags);
    naming::check_resource_group_name(value, diags);
    naming::check_tags(value, 1, diags);
    let sets = config.backend_sets.clone()?;
    if let (Some(sku), Some(cap)) = (sku, cap) {
        check_set_sizes(&sets, sku, cap, diags);
    }
    Some(sets)
}

/// Each set once, and none larger than one load balancer may front (a set is never split).
fn check_set_sizes(sets: &[BackendSet], sku: Sku, cap: u64, diags: &mut Diagnostics) {
    let mut seen = BTreeSet::new();
    for (i, set) in sets.iter().enumerate() {
        let at = AttributePath::of("backend_sets").index(i as i64);
        if let Some(id) = &set.id {
            if !seen.insert(id.to_string().to_ascii_lowercase()) {
                diags.push(
                    Diagnostic::error(
                        "Availability set listed twice",
                        format!("{id} appears more than once in backend_sets; list each set once."),
                    )
                    .at(at.clone()),
                );
            }
        }
        let Some(nodes) = set.nodes.filter(|&n| n > cap) else {
            continue;
        };
        let name = set.name().unwrap_or("this set");
        let fix = match (sku, set.from_pool) {
            (Sku::Basic, true) => format!(
                "set max_nodes_per_set <= {cap} on the largek8s_pool so that no set outgrows one Basic load \
                 balancer, or use sku = \"Standard\""
            ),
            (Sku::Basic, false) => format!(
                "split the set (a pool's max_nodes_per_set <= {cap}), raise max_backend_nodes up to {}, or use sku = \"Standard\"",
                Sku::Basic.max_backend()
            ),
            (Sku::Standard, _) => format!(
                "raise max_backend_nodes up to {}",
                Sku::Standard.max_backend()
            ),
        };
        diags.push(
            Diagnostic::error(
                "Availability set too large for one load balancer",
                format!(
                    "Availability set {name} holds {nodes} nodes, but one {} load balancer of this group fronts at \
                     most {cap} (max_backend_nodes), and a set is never split across load balancers: {fix}.",
                    sku.as_str()
                ),
            )
            .at(at),
        );
    }
}

/// Every rule's `probe_name` must name one of `probes`, or Azure refuses the load balancer at apply.
fn check_probe_names(config: &Config, diags: &mut Diagnostics) {
    // Only once every probe is known: an unknown one might carry the name.
    let all_known = match &config.probes {
        Maybe::Known(None) => true,
        Maybe::Known(Some(probes)) => probes
            .iter()
            .all(|p| p.known().is_some_and(|p| p.name.is_known())),
        Maybe::Unknown => false,
    };
    if !all_known {
        return;
    }
    let names: BTreeSet<&str> = known_entries(&config.probes)
        .filter_map(|(_, p)| p.name())
        .collect();
    for (i, rule) in known_entries(&config.rules) {
        if let Some(probe) = rule.probe_name().filter(|p| !names.contains(p)) {
            diags.push(
                Diagnostic::error(
                    "Unknown probe",
                    format!("Rule {i} uses probe {probe:?}, which is not one of probes: add it to probes or fix the name."),
                )
                .at(AttributePath::of("rules").index(i as i64).attr("probe_name")),
            );
        }
    }
}

/// The whole-number value of `number` when it is known but outside `range`.
fn out_of_range(number: &Maybe<Option<Number>>, range: RangeInclusive<u64>) -> Option<String> {
    let n = number.present()?;
    let inside = n.is_integer() && n.to_u64().is_some_and(|v| range.contains(&v));
    (!inside).then(|| n.to_string())
}

/// Each rule's protocol, ports and idle timeout, and that rule names and frontends are unique, before Azure
/// refuses the load balancer at apply.
fn check_rules(config: &Config, diags: &mut Diagnostics) {
    let mut names = BTreeSet::new();
    let mut frontends = BTreeSet::new();
    for (i, rule) in known_entries(&config.rules) {
        check_rule(i, rule, diags);
        let at = |attr: &str| AttributePath::of("rules").index(i as i64).attr(attr);
        if let Some(name) = rule.name() {
            if !names.insert(name) {
                diags.push(
                    Diagnostic::error(
                        "Duplicate rule name",
                        format!("rules[{i}] is named {name:?} like an earlier rule; give each rule its own name."),
                    )
                    .at(at("name")),
                );
            }
        }
        let port = rule.frontend_port.present().and_then(Number::to_u64);
        if let (Some(p), Some(port)) = (rule.protocol(), port) {
            if !frontends.insert((p, port)) {
                diags.push(
                    Diagnostic::error(
                        "Frontend port used twice",
                        format!(
                            "rules[{i}] uses {p} port {port} on the frontend like an earlier rule; Azure allows one \
                             rule per frontend port and protocol: change frontend_port."
                        ),
                    )
                    .at(at("frontend_port")),
                );
            }
        }
    }
}

/// One rule's protocol, ports and idle timeout.
fn check_rule(i: usize, rule: &RuleInput, diags: &mut Diagnostics) {
    let at = |attr: &str| AttributePath::of("rules").index(i as i64).attr(attr);
    let protocol = rule.protocol();
    if let Some(p) = protocol.filter(|p| !RULE_PROTOCOLS.contains(p)) {
        diags.push(
            Diagnostic::error(
                "Unknown rule protocol",
                format!(
                    "rules[{i}].protocol is {p:?}; use one of {} (names are case-sensitive).",
                    RULE_PROTOCOLS.join(", ")
                ),
            )
            .at(at("protocol")),
        );
    }
    let ha_ports = protocol == Some("All");
    for (attr, port, max) in [
        ("frontend_port", &rule.frontend_port, 65534),
        ("backend_port", &rule.backend_port, 65535),
    ] {
        let range = if ha_ports { 0..=0 } else { 1..=max };
        if let Some(value) = out_of_range(port, range) {
            let rule_text = if ha_ports {
                "an HA-ports rule (protocol \"All\") uses port 0".to_string()
            } else {
                format!("use a port from 1 to {max}")
            };
            diags.push(
                Diagnostic::error(
                    format!("Invalid {attr}"),
                    format!("rules[{i}].{attr} is {value}: {rule_text}."),
                )
                .at(at(attr)),
            );
        }
    }
    if let Some(value) = out_of_range(&rule.idle_timeout_in_minutes, IDLE_TIMEOUT_MINUTES) {
        diags.push(
            Diagnostic::error(
                "Invalid idle_timeout_in_minutes",
                format!(
                    "rules[{i}].idle_timeout_in_minutes is {value}; use {} to {} minutes.",
                    IDLE_TIMEOUT_MINUTES.start(),
                    IDLE_TIMEOUT_MINUTES.end()
                ),
            )
            .at(at("idle_timeout_in_minutes")),
        );
    }
}

/// Each probe's protocol, port, request path and timing, and that probe names are unique.
fn check_probes(config: &Config, diags: &mut Diagnostics) {
    let mut names = BTreeSet::new();
    for (i, probe) in known_entries(&config.probes) {
        check_probe(i, probe, diags);
        if let Some(name) = probe.name() {
            if !names.insert(name) {
                diags.push(
                    Diagnostic::error(
                        "Duplicate probe name",
                        format!("probes[{i}] is named {name:?} like an earlier probe; give each probe its own name."),
                    )
                    .at(AttributePath::of("probes").index(i as i64).attr("name")),
                );
            }
        }
    }
}

/// One probe's protocol, port, request path and timing.
fn check_probe(i: usize, probe: &ProbeInput, diags: &mut Diagnostics) {
    let at = |attr: &str| AttributePath::of("probes").index(i as i64).attr(attr);
    let protocol = probe.protocol();
    if let Some(p) = protocol.filter(|p| !PROBE_PROTOCOLS.contains(p)) {
        diags.push(
            Diagnostic::error(
                "Unknown probe protocol",
                format!(
                    "probes[{i}].protocol is {p:?}; use one of {} (names are case-sensitive).",
                    PROBE_PROTOCOLS.join(", ")
                ),
            )
            .at(at("protocol")),
        );
    }
    if let Some(value) = out_of_range(&probe.port, 1..=65535) {
        diags.push(
            Diagnostic::error(
                "Invalid probe port",
                format!("probes[{i}].port is {value}; use a port from 1 to 65535."),
            )
            .at(at("port")),
        );
    }
    match (protocol, &probe.request_path) {
        (Some("Http" | "Https"), Maybe::Known(None)) => diags.push(
            Diagnostic::error(
                "request_path is required",
                format!("probes[{i}] is an HTTP probe: set request_path, e.g. \"/healthz\"."),
            )
            .at(AttributePath::of("probes").index(i as i64)),
        ),
        (Some("Http" | "Https"), Maybe::Known(Some(p))) if !p.starts_with('/') => diags.push(
            Diagnostic::error(
                "Invalid request_path",
                format!("probes[{i}].request_path {p:?} must start with \"/\", e.g. \"/healthz\"."),
            )
            .at(at("request_path")),
        ),
        (Some("Tcp"), path) if *path != Maybe::Known(None) => diags.push(
            Diagnostic::error(
                "request_path on a Tcp probe",
                format!("probes[{i}] is a Tcp probe, which has no request path: remove request_path or use protocol \"Http\"."),
            )
            .at(at("request_path")),
        ),
        _ => {}
    }
    if let Some(value) = out_of_range(
        &probe.interval_in_seconds,
        MIN_PROBE_INTERVAL..=i32::MAX as u64,
    ) {
        diags.push(
            Diagnostic::error(
                "Invalid interval_in_seconds",
                format!("probes[{i}].interval_in_seconds is {value}; Azure probes at most every {MIN_PROBE_INTERVAL} seconds: use {MIN_PROBE_INTERVAL} or more."),
            )
            .at(at("interval_in_seconds")),
        );
    }
    if let Some(value) = out_of_range(&probe.number_of_probes, 1..=i32::MAX as u64) {
        diags.push(
            Diagnostic::error(
                "Invalid number_of_probes",
                format!("probes[{i}].number_of_probes is {value}; use 1 or more."),
            )
            .at(at("number_of_probes")),
        );
    }
}

/// A DNS label: 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen.
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// The `dns` object: a zone name of two or more labels, a record name (`@`, labels, `*` first), a TTL
/// Azure accepts (https://learn.microsoft.com/azure/dns/dns-zones-records).
fn check_dns(config: &Config, diags: &mut Diagnostics) {
    let Some(dns) = config.dns.present() else {
        return;
    };
    check_dns_names(dns, diags);
    if let Some(value) = out_of_range(&dns.ttl, 1..=i32::MAX as u64) {
        diags.push(
            Diagnostic::error(
                "Invalid dns.ttl",
                format!(
                    "ttl is {value}; use a whole number of seconds from 1 to {}.",
                    i32::MAX
                ),
            )
            .at(AttributePath::of("dns").attr("ttl")),
        );
    }
}

fn check_dns_names(dns: &DnsInput, diags: &mut Diagnostics) {
    let at = |attr: &str| AttributePath::of("dns").attr(attr);
    if let Some(zone) = dns.zone_name.present() {
        let zone = zone.strip_suffix('.').unwrap_or(zone);
        if zone.len() > 253 || zone.split('.').count() < 2 || !zone.split('.').all(is_dns_label) {
            diags.push(
                Diagnostic::error(
                    "Invalid dns.zone_name",
                    format!("zone_name {zone:?} is not a DNS zone name: use two or more labels of letters, digits and hyphens, e.g. \"example.com\"."),
                )
                .at(at("zone_name")),
            );
        }
    }
    if let Some(record) = dns.record_name.present() {
        let labels = record.strip_prefix("*.").unwrap_or(record);
        let ok = record == "@"
            || record == "*"
            || labels
                .split('.')
                .all(|l| is_dns_label(&l.replace('_', "a")));
        if !ok {
            diags.push(
                Diagnostic::error(
                    "Invalid dns.record_name",
                    format!("record_name {record:?} is not a record set name: use \"@\" for the zone apex, or labels of letters, digits, hyphens and underscores such as \"www\"."),
                )
                .at(at("record_name")),
            );
        }
    }
}

/// The group's `name` prefixes its load balancers' and public IPs' names (`<name>-lb-<i>-pip`), which Azure
/// limits to 80 characters of letters, digits, `_ - .`, starting with a letter or digit.
fn check_group_name(config: &Config, diags: &mut Diagnostics) {
    let Some(name) = config.name.present() else {
        return;
    };
    let ok = (1..=MAX_GROUP_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !ok {
        diags.push(
            Diagnostic::error(
                "Invalid group name",
                format!(
                    "name {name:?} must start with a letter or digit and hold 1 to {MAX_GROUP_NAME} letters, digits, \
                     underscores, hyphens and periods (load balancer names are built from it)."
                ),
            )
            .at(AttributePath::of("name")),
        );
    }
}

/// The rule, probe, DNS and name checks above (kept beside them, apart from the resource's plan tests).
#[cfg(test)]
mod tests {
    use super::*;

    fn object(pairs: &[(&str, Value)]) -> Value {
        Value::object(pairs.iter().cloned())
    }

    /// `config` with an empty (valid) `backend_sets`, which these checks do not look at.
    fn with_backend(config: &[(&str, Value)]) -> Value {
        let mut pairs = vec![("backend_sets", Value::list([]))];
        pairs.extend(config.iter().cloned());
        object(&pairs)
    }

    fn rule(protocol: &str, frontend: i64, backend: i64) -> Value {
        object(&[
            ("name", Value::string(format!("{protocol}{frontend}"))),
            ("protocol", Value::string(protocol)),
            ("frontend_port", Value::number(frontend)),
            ("backend_port", Value::number(backend)),
        ])
    }

    fn paths_of(config: &[(&str, Value)]) -> Vec<(String, String)> {
        let mut diags = Diagnostics::new();
        let config = Config::decode(&with_backend(config), &mut diags);
        check_rules(&config, &mut diags);
        check_probes(&config, &mut diags);
        check_dns(&config, &mut diags);
        check_group_name(&config, &mut diags);
        diags
            .iter()
            .map(|d| {
                let at = d.attribute.as_ref().map(ToString::to_string);
                (at.unwrap_or_default(), d.detail.clone())
            })
            .collect()
    }

    fn flagged(config: &[(&str, Value)], path: &str, fragment: &str) {
        let found = paths_of(config);
        assert!(
            found.iter().any(|(p, d)| p == path && d.contains(fragment)),
            "expected {path} with {fragment:?}, got {found:?}"
        );
    }

    #[test]
    fn rules_need_known_protocols_ports_in_range_and_unique_frontends() {
        flagged(
            &[("rules", Value::list([rule("Icmp", 80, 80)]))],
            "rules[0].protocol",
            "Tcp, Udp, All",
        );
        flagged(
            &[("rules", Value::list([rule("Tcp", 0, 80)]))],
            "rules[0].frontend_port",
            "1 to 65534",
        );
        flagged(
            &[("rules", Value::list([rule("Udp", 53, 70000)]))],
            "rules[0].backend_port",
            "1 to 65535",
        );
        flagged(
            &[("rules", Value::list([rule("All", 80, 0)]))],
            "rules[0].frontend_port",
            "port 0",
        );
        flagged(
            &[(
                "rules",
                Value::list([rule("Tcp", 80, 80), rule("Tcp", 80, 8080)]),
            )],
            "rules[1].frontend_port",
            "one rule per frontend port",
        );
        let slow = object(&[
            ("name", Value::string("r")),
            ("protocol", Value::string("Tcp")),
            ("frontend_port", Value::number(1i64)),
            ("backend_port", Value::number(1i64)),
            ("idle_timeout_in_minutes", Value::number(31i64)),
        ]);
        flagged(
            &[("rules", Value::list([slow]))],
            "rules[0].idle_timeout_in_minutes",
            "4 to 30",
        );
        assert!(paths_of(&[(
            "rules",
            Value::list([
                rule("Tcp", 80, 8080),
                rule("Udp", 80, 80),
                rule("All", 0, 0)
            ])
        )])
        .is_empty());
    }

    #[test]
    fn probes_need_a_path_only_over_http() {
        let probe = |protocol: &str, path: Value| {
            object(&[
                ("name", Value::string("p")),
                ("protocol", Value::string(protocol)),
                ("port", Value::number(80i64)),
                ("request_path", path),
            ])
        };
        flagged(
            &[("probes", Value::list([probe("Http", Value::Null)]))],
            "probes[0]",
            "set request_path",
        );
        flagged(
            &[(
                "probes",
                Value::list([probe("Https", Value::string("healthz"))]),
            )],
            "probes[0].request_path",
            "start with",
        );
        flagged(
            &[("probes", Value::list([probe("Tcp", Value::string("/x"))]))],
            "probes[0].request_path",
            "remove request_path",
        );
        flagged(
            &[("probes", Value::list([probe("Udp", Value::Null)]))],
            "probes[0].protocol",
            "Tcp, Http, Https",
        );
        assert!(
            paths_of(&[(
                "probes",
                Value::list([
                    probe("Http", Value::string("/healthz")),
                    probe("Tcp", Value::Null)
                ])
            )])
            .len()
                == 1,
            "only the duplicate name is flagged"
        );
    }

    #[test]
    fn dns_names_and_ttl_follow_azure_dns() {
        let dns = |zone: &str, record: &str, ttl: i64| {
            object(&[
                ("zone_name", Value::string(zone)),
                ("zone_resource_group_name", Value::string("dns")),
                ("record_name", Value::string(record)),
                ("ttl", Value::number(ttl)),
            ])
        };
        flagged(
            &[("dns", dns("localhost", "www", 300))],
            "dns.zone_name",
            "two or more labels",
        );
        flagged(
            &[("dns", dns("example.com", "bad name", 300))],
            "dns.record_name",
            "\"@\"",
        );
        flagged(
            &[("dns", dns("example.com", "www", 0))],
            "dns.ttl",
            "from 1",
        );
        for record in ["@", "*", "www", "_acme-challenge", "*.apps"] {
            assert!(
                paths_of(&[("dns", dns("example.com.", record, 60))]).is_empty(),
                "{record}"
            );
        }
    }

    #[test]
    fn group_names_must_fit_azure_load_balancer_names() {
        flagged(
            &[("name", Value::string("-web"))],
            "name",
            "start with a letter or digit",
        );
        flagged(
            &[("name", Value::string("w".repeat(65)))],
            "name",
            "1 to 64",
        );
        assert!(paths_of(&[("name", Value::string("web_1.prod"))]).is_empty());
    }
}
