//! The ARM client against the simulator: credential flows, throttling, faults, long-running operations,
//! deadlines and cancellation.

mod support;

use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use largek8s::arm::cloud::Cloud;
use largek8s::arm::config::Secret;
use largek8s::arm::models::{compute, ResourceGroup, NETWORK_API_VERSION};
use largek8s::arm::{ArmClient, ArmError, Conditions, Ctx, ResourceId, Started};
use serde_json::json;
use support::sim::{Sim, SUBSCRIPTION};
use tokio_util::sync::CancellationToken;

fn ctx() -> Ctx {
    Ctx::new(CancellationToken::new(), Duration::from_secs(60))
}

async fn resource_group(client: &ArmClient, name: &str) -> ResourceId {
    let id = ResourceId::resource_group(SUBSCRIPTION, name);
    let body = ResourceGroup {
        location: "westeurope".into(),
        extra: Default::default(),
    };
    client
        .put_resource_group(&ctx(), &id, &body)
        .await
        .expect("resource group created");
    id
}

fn availability_set() -> compute::AvailabilitySet {
    serde_json::from_value(json!({
        "location": "westeurope",
        "sku": {"name": "Aligned"},
        "properties": {"platformFaultDomainCount": 2, "platformUpdateDomainCount": 5}
    }))
    .expect("valid body")
}

async fn put_set(
    client: &ArmClient,
    ctx: &Ctx,
    name: &str,
) -> Result<compute::AvailabilitySet, ArmError> {
    let id = ResourceId::availability_set(SUBSCRIPTION, "rg", name);
    client
        .create_or_update(ctx, &id, &availability_set(), &Conditions::default())
        .await
        .map(|r| r.body)
}

fn count(stats: &serde_json::Value, status: &str) -> u64 {
    stats["byStatus"][status].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn client_secret_flow_writes_reads_lists_and_deletes() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    let rg = resource_group(&client, "rg").await;
    let set = put_set(&client, &ctx(), "as-0").await.expect("created");
    assert_eq!(
        set.properties.and_then(|p| p.platform_fault_domain_count),
        Some(2)
    );

    let id = ResourceId::availability_set(SUBSCRIPTION, "rg", "as-0");
    let read = client
        .read::<compute::AvailabilitySet>(&ctx(), &id)
        .await
        .expect("read")
        .expect("exists");
    let etag = read.etag.clone();
    assert!(read.request_id.is_some(), "x-ms-request-id is kept");

    put_set(&client, &ctx(), "as-1").await.expect("second set");
    let listed = client
        .list_in_group::<compute::AvailabilitySet>(&ctx(), &rg)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);

    if let Some(etag) = etag {
        // A stale ETag is refused by If-Match.
        let stale = Conditions {
            if_match: Some(format!("{etag}-stale")),
            ..Conditions::default()
        };
        let e = client
            .create_or_update(&ctx(), &id, &availability_set(), &stale)
            .await
            .expect_err("precondition fails");
        assert_eq!(e.api().map(|a| a.status), Some(412), "{e}");
    }

    client
        .remove::<compute::AvailabilitySet>(&ctx(), &id)
        .await
        .expect("deleted");
    assert!(client
        .read::<compute::AvailabilitySet>(&ctx(), &id)
        .await
        .expect("read")
        .is_none());
    // Deleting what is gone is not an error.
    client
        .remove::<compute::AvailabilitySet>(&ctx(), &id)
        .await
        .expect("idempotent delete");
}

#[tokio::test]
async fn metadata_discovery_finds_the_login_endpoint() {
    let sim = Sim::start(&[]);
    let http = largek8s::arm::client::http_client("test").expect("http client");
    let base = url::Url::parse(&format!("{}/", sim.base)).expect("url");
    let cloud = Cloud::discover(&http, &base).await.expect("discovered");
    assert_eq!(cloud.resource_manager, base);
    assert_eq!(cloud.login, base);
    assert!(!cloud.adfs);
}

#[tokio::test]
async fn azure_stack_hub_style_adfs_cloud_is_discovered_and_authenticates_with_v1_tokens() {
    let sim = Sim::start(&["--login", "adfs"]);
    let http = largek8s::arm::client::http_client("test").expect("http client");
    let base = url::Url::parse(&format!("{}/", sim.base)).expect("url");
    let cloud = Cloud::discover(&http, &base).await.expect("discovered");
    assert!(cloud.adfs, "a login endpoint ending in /adfs means AD FS");
    // The simulator answers AD FS token requests only at /adfs/oauth2/token (v1, `resource=`); an Entra v2
    // request would miss it, so a successful call proves the client took the AD FS path.
    let client = sim.client().await;
    let groups = client
        .get::<serde_json::Value>(
            &ctx(),
            &format!("/subscriptions/{SUBSCRIPTION}/resourceGroups"),
            "2021-04-01",
        )
        .await
        .expect("an ARM call authenticated through AD FS");
    assert!(groups.body["value"].is_array());
}

fn unsigned_jwt() -> String {
    let part = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT"})),
        part(
            json!({"iss": "https://token.actions.githubusercontent.com", "sub": "repo:o/r:ref:refs/heads/main", "aud": "api://AzureADTokenExchange"})
        ),
        URL_SAFE_NO_PAD.encode(b"signature")
    )
}

#[tokio::test]
async fn oidc_token_file_authenticates() {
    let sim = Sim::start(&[]);
    let path = std::env::temp_dir().join(format!("largek8s-oidc-{}", std::process::id()));
    std::fs::write(&path, unsigned_jwt()).expect("write token file");
    let settings = largek8s::arm::Settings {
        client_secret: None,
        use_oidc: Some(true),
        oidc_token_file_path: Some(path.to_string_lossy().into_owned()),
        ..sim.settings()
    };
    let client = sim.client_with(settings).await;
    resource_group(&client, "rg").await;
    std::fs::remove_file(&path).ok();
}

#[tokio::test]
async fn managed_identity_authenticates_through_an_imds_style_endpoint() {
    let sim = Sim::start(&[]);
    let msi = |client_id: &str| largek8s::arm::Settings {
        client_id: Some(client_id.into()),
        client_secret: None,
        use_msi: Some(true),
        msi_endpoint: Some(format!("{}/metadata/identity/oauth2/token", sim.base)),
        ..sim.settings()
    };
    let client = sim.client_with(msi(support::sim::CLIENT_ID)).await;
    resource_group(&client, "rg").await;

    // A user-assigned identity the "VM" does not have is refused, and the error says so.
    let client = sim
        .client_with(msi("99999999-0000-0000-0000-000000000000"))
        .await;
    let e = client
        .get::<serde_json::Value>(
            &ctx(),
            &format!("/subscriptions/{SUBSCRIPTION}/resourceGroups"),
            "2021-04-01",
        )
        .await
        .expect_err("refused");
    let ArmError::Auth(auth) = &e else {
        panic!("expected an authentication error, got {e}");
    };
    assert_eq!(auth.description, "Identity not found", "{e}");
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_that_never_shows_the_secret() {
    let sim = Sim::start(&[]);
    let wrong = "not-the-right-secret-1234";
    let settings = largek8s::arm::Settings {
        client_secret: Some(Secret::new(wrong)),
        ..sim.settings()
    };
    let client = sim.client_with(settings).await;
    let e = client
        .get::<serde_json::Value>(
            &ctx(),
            &format!("/subscriptions/{SUBSCRIPTION}/resourceGroups"),
            "2021-04-01",
        )
        .await
        .expect_err("refused");
    let ArmError::Auth(auth) = &e else {
        panic!("expected an authentication error, got {e}");
    };
    assert_eq!(auth.code.as_deref(), Some("invalid_client"));
    assert!(
        auth.description.contains("AADSTS7000215"),
        "{}",
        auth.description
    );
    assert!(!format!("{e} {e:?}").contains(wrong));
}

#[tokio::test]
async fn an_expired_token_is_refreshed() {
    // Tokens live 2 simulated seconds (= 2 real seconds at time scale 1).
    let sim = Sim::start(&["--token-lifetime", "2"]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    resource_group(&client, "rg2").await;
    let stats = sim.stats().await;
    assert_eq!(
        count(&stats, "401"),
        0,
        "the cached token was renewed before ARM saw it expire: {stats}"
    );
}

#[tokio::test]
async fn a_429_storm_is_waited_out_without_losing_the_request() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    sim.faults(
        json!({"method": "PUT", "glob": "**/availabilitySets/*", "status": 429, "times": 6,
                      "error": {"code": "TooManyRequests", "message": "storm"}}),
    )
    .await;
    put_set(&client, &ctx(), "as-0")
        .await
        .expect("created after the storm");
    let stats = sim.stats().await;
    assert_eq!(count(&stats, "429"), 6, "{stats}");
    assert!(client.pacer().stats().throttled >= 6);
}

#[tokio::test]
async fn server_errors_and_dropped_connections_are_retried() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    sim.faults(json!([
        {"method": "PUT", "glob": "**/availabilitySets/as-0", "status": 503, "times": 3},
        {"method": "PUT", "glob": "**/availabilitySets/as-1", "drop": true, "times": 2},
        {"method": "PUT", "glob": "**/availabilitySets/as-2", "status": 409, "times": 2,
         "error": {"code": "RetryableErrorDueToAnotherOperation", "message": "busy"}}
    ]))
    .await;
    for name in ["as-0", "as-1", "as-2"] {
        put_set(&client, &ctx(), name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::test]
async fn persistent_server_errors_end_with_arms_error() {
    let sim = Sim::start(&[]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    sim.faults(
        json!({"method": "PUT", "glob": "**/availabilitySets/*", "status": 500,
                      "error": {"code": "InternalServerError", "message": "always"}}),
    )
    .await;
    let e = put_set(&client, &ctx(), "as-0")
        .await
        .expect_err("gives up");
    let api = e.api().expect("ARM's error");
    assert_eq!(
        (api.status, api.code.as_str()),
        (500, "InternalServerError")
    );
    assert!(api.request_id.is_some());
}

#[tokio::test]
async fn failed_and_canceled_operations_carry_arms_error() {
    let sim = Sim::start(&["--time-scale", "20"]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    sim.faults(json!([
        {"method": "PUT", "glob": "**/availabilitySets/failing", "asyncOutcome": "Failed",
         "error": {"code": "AllocationFailed", "message": "no capacity"}},
        {"method": "PUT", "glob": "**/availabilitySets/canceled", "asyncOutcome": "Canceled"}
    ]))
    .await;
    let e = put_set(&client, &ctx(), "failing")
        .await
        .expect_err("fails");
    match &e {
        ArmError::Operation { state, error, .. } => {
            assert_eq!(state, "Failed");
            assert_eq!(error.code, "AllocationFailed");
        }
        other => panic!("expected a failed operation, got {other}"),
    }
    let e = put_set(&client, &ctx(), "canceled")
        .await
        .expect_err("canceled");
    assert!(
        matches!(&e, ArmError::Operation { state, .. } if state == "Canceled"),
        "{e}"
    );
}

#[tokio::test]
async fn deadline_and_cancellation_stop_a_never_ending_operation() {
    let sim = Sim::start(&["--time-scale", "20"]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    sim.faults(json!({"method": "PUT", "glob": "**/availabilitySets/*", "asyncOutcome": "Never"}))
        .await;

    let short = Ctx::new(CancellationToken::new(), Duration::from_secs(1));
    let start = Instant::now();
    let e = put_set(&client, &short, "slow")
        .await
        .expect_err("deadline");
    assert!(matches!(e, ArmError::Deadline { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );

    let cancel = CancellationToken::new();
    let ctx = Ctx::unbounded(cancel.clone());
    let started = client
        .start_put(
            &ctx,
            &ResourceId::availability_set(SUBSCRIPTION, "rg", "stopped"),
            &availability_set(),
            &Conditions::default(),
        )
        .await
        .expect("accepted");
    let Started::Running(op) = started else {
        panic!("the operation should still run");
    };
    // The operation can be saved and resumed, here to be cancelled.
    let token = op.to_token();
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.cancel();
    });
    let start = Instant::now();
    let e = client.resume(&ctx, &token).await.expect_err("cancelled");
    assert!(matches!(e, ArmError::Cancelled { .. }), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_saved_operation_resumes_to_its_result() {
    let sim = Sim::start(&["--time-scale", "20"]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    let id = ResourceId::availability_set(SUBSCRIPTION, "rg", "resumed");
    let started = client
        .start_put(&ctx(), &id, &availability_set(), &Conditions::default())
        .await
        .expect("accepted");
    match started {
        Started::Running(op) => {
            let body = client
                .resume(&ctx(), &op.to_token())
                .await
                .expect("finished");
            assert!(body.is_some());
        }
        Started::Done(r) => assert!(r.body.properties.is_some()),
    }
    assert!(client
        .read::<compute::AvailabilitySet>(&ctx(), &id)
        .await
        .expect("read")
        .is_some());
}

/// At `--time-scale 100` a public IP that takes 3 simulated seconds asks for a poll in 30 real milliseconds
/// (`retry-after-ms`), with `Retry-After` rounded up to the whole second HTTP allows; a client that waits what
/// it is told polls the operation once, and the run's least time is that provisioning.
#[tokio::test]
async fn operations_ask_for_real_milliseconds_and_are_polled_once() {
    let sim = Sim::start(&["--time-scale", "100"]);
    let client = sim.client().await;
    resource_group(&client, "rg").await;
    let ip = |name: &str| {
        format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/{name}")
    };
    let body = json!({
        "location": "westeurope",
        "sku": {"name": "Standard"},
        "properties": {"publicIPAllocationMethod": "Static"}
    });
    let url = client.url(&ip("asked"), NETWORK_API_VERSION).expect("url");
    let started = client
        .send(
            &ctx(),
            reqwest::Method::PUT,
            &url,
            Some(&body),
            &Conditions::default(),
        )
        .await
        .expect("accepted");
    let header = |name: &str| {
        started
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let ms: u64 = header("retry-after-ms").parse().expect("retry-after-ms");
    assert!((1..=30).contains(&ms), "retry-after-ms {ms}");
    assert_eq!(header("x-ms-retry-after-ms"), ms.to_string());
    assert_eq!(header("retry-after"), "1");

    sim.reset_stats().await;
    client
        .put_and_wait::<_, serde_json::Value>(
            &ctx(),
            &ip("polled"),
            NETWORK_API_VERSION,
            &body,
            &Conditions::default(),
        )
        .await
        .expect("created");
    let after = sim.stats().await;
    let polls: u64 = after["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["method"] == "GET" && r["resourceType"] == "Microsoft.Network/operations")
        .filter_map(|r| r["count"].as_u64())
        .sum();
    assert_eq!(polls, 1, "{after}");
    let run = &after["run"];
    let least = run["leastSimulatedSeconds"].as_f64().unwrap_or(0.0);
    assert!((least - 3.0).abs() < 1e-3, "{run}");
    assert!(
        run["simulatedSeconds"].as_f64().unwrap_or(0.0) >= 3.0,
        "{run}"
    );
}
