//! Throttling arithmetic (on a frozen clock, so never timing-dependent) and authentication.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn write_bucket_empties_after_200_writes_and_refills_at_10_per_second() {
    let sim = Sim::start().await;
    let mut last = None;
    for i in 0..200 {
        let r = sim
            .put(
                &sim.rg(&format!("rg{i}")),
                RG,
                json!({ "location": "westeurope" }),
            )
            .await;
        assert_eq!(r.status, 201, "write {i}");
        last = r
            .header("x-ms-ratelimit-remaining-subscription-writes")
            .map(str::to_string);
    }
    assert_eq!(last.as_deref(), Some("0"));
    let r = sim
        .put(
            &sim.rg("one-too-many"),
            RG,
            json!({ "location": "westeurope" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (429, "SubscriptionRequestsThrottled"));
    assert!(r.header("retry-after").is_some());
    // 0.05 s later (simulated) the bucket holds half a token and Retry-After has not passed: refused again.
    sim.advance(0.05).await;
    assert_eq!(
        sim.put(
            &sim.rg("one-too-many"),
            RG,
            json!({ "location": "westeurope" })
        )
        .await
        .status,
        429
    );
    sim.advance(0.06).await;
    assert_eq!(
        sim.put(
            &sim.rg("one-too-many"),
            RG,
            json!({ "location": "westeurope" })
        )
        .await
        .status,
        201
    );
    // Reads have their own bucket.
    let g = sim.get(&sim.rg("rg0"), RG).await;
    assert_eq!(g.status, 200);
    assert!(g
        .header("x-ms-ratelimit-remaining-subscription-reads")
        .is_some());

    let stats = sim.control("GET", "/_sim/stats", None).await.body;
    assert_eq!(stats["throttled"], 2);
    // 201 accepted writes: one beyond the 200 capacity at 10/s is 0.1 simulated seconds.
    let floor = stats["throttling"]["floorSimulatedSeconds"]
        .as_f64()
        .expect("floor");
    assert!((floor - 0.1).abs() < 1e-9, "{floor}");
    assert!(stats["throttling"]["floorRealSeconds"].as_f64().is_some());
    assert_eq!(stats["byStatus"]["429"], 2);
}

#[tokio::test]
async fn vm_writes_report_compute_buckets() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "n");
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    assert!(r
        .header("x-ms-ratelimit-remaining-resource")
        .is_some_and(|h| h.starts_with("Microsoft.Network/PutDelete5Min;")));
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Compute/virtualMachines", "vm"),
            COMPUTE,
            Sim::vm_body(&nic, None),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        r.header("x-ms-ratelimit-remaining-resource"),
        Some("Microsoft.Compute/PutVM3Min;1499,Microsoft.Compute/PutVM30Min;11999")
    );
}

#[tokio::test]
async fn network_rp_allows_1000_writes_per_5_minutes() {
    let sim = Sim::with(largek8s_sim::Config {
        throttle: largek8s_sim::config::ThrottleModel::AzurePublic,
        ..frozen()
    })
    .await;
    sim.group("rg").await;
    // Spread writes so the subscription bucket (10/s) never binds: 1000 writes over 100 s.
    for i in 0..1000 {
        if i % 10 == 0 {
            sim.advance(1.0).await;
        }
        let r = sim
            .put(
                &sim.id("rg", "Microsoft.Network/dnsZones", &format!("z{i}.example")),
                DNS,
                json!({ "location": "global" }),
            )
            .await;
        assert_eq!(r.status, 201, "write {i}: {:?}", r.body);
    }
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Network/dnsZones", "last.example"),
            DNS,
            json!({ "location": "global" }),
        )
        .await;
    assert_eq!(r.status, 201, "100 s refilled 333 Network tokens");
    let stats = sim.control("GET", "/_sim/stats", None).await.body;
    assert_eq!(stats["throttled"], 0);
}

#[tokio::test]
async fn throttle_off_sends_no_rate_limit_headers() {
    let sim = Sim::with(largek8s_sim::Config {
        throttle: largek8s_sim::config::ThrottleModel::Off,
        ..frozen()
    })
    .await;
    for i in 0..250 {
        assert_eq!(
            sim.put(
                &sim.rg(&format!("rg{i}")),
                RG,
                json!({ "location": "westeurope" })
            )
            .await
            .status,
            201
        );
    }
    let r = sim.get(&sim.rg("rg0"), RG).await;
    assert!(r
        .header("x-ms-ratelimit-remaining-subscription-reads")
        .is_none());
}

#[tokio::test]
async fn arm_calls_need_a_valid_bearer_token() {
    let sim = Sim::start().await;
    let path = format!("{}?api-version={RG}", sim.rg("rg"));
    let r = sim.raw("GET", &path, None, &[]).await;
    assert_eq!((r.status, r.code()), (401, "AuthenticationFailed"));
    assert!(r
        .header("www-authenticate")
        .is_some_and(|h| h.starts_with("Bearer authorization_uri=")));
    let r = sim
        .raw(
            "GET",
            &path,
            None,
            &[("authorization", "Bearer not.a.token")],
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "InvalidAuthenticationToken"));
    let r = sim
        .raw(
            "GET",
            &format!("/subscriptions/other/resourceGroups/rg?api-version={RG}"),
            None,
            &[("authorization", &format!("Bearer {}", sim.token))],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "SubscriptionNotFound"));
}

#[tokio::test]
async fn tokens_expire_in_simulated_time() {
    let sim = Sim::with(largek8s_sim::Config {
        time_scale: 1e-9,
        ..largek8s_sim::Config::default()
    })
    .await;
    assert_eq!(sim.get(&sim.rg("rg"), RG).await.status, 404);
    sim.advance(3601.0).await;
    let r = sim.get(&sim.rg("rg"), RG).await;
    assert_eq!((r.status, r.code()), (401, "ExpiredAuthenticationToken"));
    let fresh = sim.fetch_token().await;
    let r = sim
        .raw(
            "GET",
            &format!("{}?api-version={RG}", sim.rg("rg")),
            None,
            &[("authorization", &format!("Bearer {fresh}"))],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn token_endpoint_checks_credentials_and_accepts_federated_assertions() {
    let sim = Sim::start().await;
    let c = sim.running.sim.config.clone();
    let post = |form: String, path: String| {
        let sim = &sim;
        async move {
            sim.raw(
                "POST",
                &path,
                Some(form.into_bytes()),
                &[("content-type", "application/x-www-form-urlencoded")],
            )
            .await
        }
    };
    let v2 = format!("/{}/oauth2/v2.0/token", c.tenant);
    let scope = "scope=https%3A%2F%2Fmanagement.azure.com%2F.default";
    let r = post(
        format!(
            "grant_type=client_credentials&client_id={}&client_secret=wrong&{scope}",
            c.client_id
        ),
        v2.clone(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let r = post(
        format!("grant_type=client_credentials&client_id=someone-else&client_secret=x&{scope}"),
        v2.clone(),
    )
    .await;
    assert_eq!(r.body["error"], "unauthorized_client");
    let r = post(
        format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&{scope}",
            c.client_id, c.client_secret
        ),
        "/other-tenant/oauth2/v2.0/token".into(),
    )
    .await;
    assert_eq!(r.status, 400);
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let assertion = format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256"}"#),
        b64(
            r#"{"iss":"https://token.actions.githubusercontent.com","sub":"repo:x/y:ref:refs/heads/main","aud":"api://AzureADTokenExchange"}"#
        ),
        b64("sig")
    );
    let r = post(
        format!("grant_type=client_credentials&client_id={}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}&{scope}", c.client_id),
        v2.clone(),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["expires_in"].as_u64().is_some());
    let r = post(format!("grant_type=client_credentials&client_id={}&client_secret={}&resource=https%3A%2F%2Fmanagement.azure.com%2F", c.client_id, c.client_secret), "/adfs/oauth2/token".into()).await;
    assert_eq!(r.status, 200);
    let m = sim
        .raw(
            "GET",
            "/metadata/endpoints?api-version=2022-09-01",
            None,
            &[],
        )
        .await;
    assert_eq!(m.body[0]["resourceManager"], format!("{}/", sim.base));
    assert_eq!(
        m.body[0]["authentication"]["loginEndpoint"],
        format!("{}/", sim.base)
    );
}

#[tokio::test]
async fn adfs_login_mode_announces_an_adfs_authority() {
    let sim = Sim::with(largek8s_sim::Config {
        login: largek8s_sim::config::Login::Adfs,
        ..frozen()
    })
    .await;
    for version in ["2022-09-01", "2015-01-01"] {
        let m = sim
            .raw(
                "GET",
                &format!("/metadata/endpoints?api-version={version}"),
                None,
                &[],
            )
            .await;
        let cloud = if m.body.is_array() {
            &m.body[0]
        } else {
            &m.body
        };
        assert_eq!(
            cloud["authentication"]["loginEndpoint"],
            format!("{}/adfs", sim.base)
        );
        // Only the array shape (2020-06-01 and later) names the tenant and identity provider.
        if m.body.is_array() {
            assert_eq!(cloud["authentication"]["tenant"], "adfs");
            assert_eq!(cloud["authentication"]["identityProvider"], "ADFS");
        }
    }
}
