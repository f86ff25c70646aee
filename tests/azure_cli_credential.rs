//! The Azure CLI credential (`use_cli`): the provider runs `az account get-access-token` and uses the token it
//! prints. The Azure CLI is not on test machines, so an `az` script stands in for it; the token it prints is a
//! real one from the simulator's managed identity endpoint, so ARM accepts it. This file is its own test binary
//! because it sets PATH for the process, before any other thread runs.

// This test uses only part of the simulator helper.
#[allow(dead_code)]
mod support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use largek8s::arm::{Ctx, ResourceId};
use support::sim::{Sim, SUBSCRIPTION};
use tokio_util::sync::CancellationToken;

/// Writes an `az` that answers `account get-access-token` like the CLI does (accessToken, expires_on in epoch
/// seconds, tenant) and records its arguments, and puts it first on PATH.
fn install_az(dir: &std::path::Path, base: &str) {
    let script = format!(
        r#"#!/bin/sh
echo "$@" > "{dir}/az-args"
[ "$1 $2" = "account get-access-token" ] || {{ echo "unexpected: $*" >&2; exit 2; }}
token=$(curl -sf -H 'Metadata: true' '{base}/metadata/identity/oauth2/token?resource=https://management.azure.com/' | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
[ -n "$token" ] || {{ echo "ERROR: Please run 'az login' to setup account." >&2; exit 1; }}
printf '{{"accessToken":"%s","expiresOn":"2099-01-01 00:00:00.000000","expires_on":%s,"subscription":"{SUBSCRIPTION}","tokenType":"Bearer"}}\n' "$token" "$(($(date +%s) + 3600))"
"#,
        dir = dir.display()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).expect("write az");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod az");
    let old = std::env::var("PATH").unwrap_or_default();
    std::env::set_var("PATH", format!("{}:{old}", dir.display()));
}

#[test]
fn azure_cli_token_is_used_for_arm() {
    let sim = Sim::start(&[]);
    let dir = tempfile::tempdir().expect("temp dir");
    install_az(dir.path(), &sim.base);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let settings = largek8s::arm::Settings {
            client_id: None,
            client_secret: None,
            use_cli: Some(true),
            ..sim.settings()
        };
        let client = sim.client_with(settings).await;
        let ctx = Ctx::new(CancellationToken::new(), Duration::from_secs(60));
        let group = ResourceId::resource_group(SUBSCRIPTION, "cli");
        client
            .put_resource_group(
                &ctx,
                &group,
                &largek8s::arm::models::ResourceGroup {
                    location: "westeurope".into(),
                    extra: Default::default(),
                },
            )
            .await
            .expect("ARM accepts the CLI's token");
    });
    let args = std::fs::read_to_string(dir.path().join("az-args")).expect("az was run");
    assert!(
        args.contains("account get-access-token --resource https://management.azure.com/"),
        "{args}"
    );
    assert!(
        args.contains("--tenant"),
        "the configured tenant is passed: {args}"
    );
}
