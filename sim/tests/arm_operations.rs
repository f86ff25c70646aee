//! Generic ARM behaviour: long-running operations, errors, ETags, PATCH, paging, api-versions, faults.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn put_starts_an_operation_that_succeeds_after_the_latency() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "n1");
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    assert!(r.header("retry-after").is_some());
    let status_url = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_string();
    let poll = sim.call("GET", &sim.path_of(&status_url), None, &[]).await;
    assert_eq!(poll.status, 200);
    assert_eq!(poll.body["status"], "InProgress");
    // Reading the resource meanwhile says when to read again, in milliseconds only: ARM sends no Retry-After
    // on a GET.
    let reading = sim.get(&nic, NET).await;
    let wait_ms: u64 = reading
        .header("retry-after-ms")
        .and_then(|v| v.parse().ok())
        .expect("retry-after-ms on a provisioning resource");
    // (This simulator's clock stands still unless advanced, so the real wait is long.)
    assert!(wait_ms >= 1, "{wait_ms}");
    assert_eq!(
        reading.header("x-ms-retry-after-ms"),
        Some(wait_ms.to_string().as_str())
    );
    assert!(reading.header("retry-after").is_none());
    sim.advance(2.5).await;
    let poll = sim.call("GET", &sim.path_of(&status_url), None, &[]).await;
    assert_eq!(poll.body["status"], "Succeeded");
    let g = sim.get(&nic, NET).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert!(g.header("retry-after-ms").is_none(), "nothing to wait for");
    assert_eq!(
        g.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.0.4"
    );
    // A second PUT is an update: 200.
    sim.advance(10.0).await;
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"], "10.0.0.4",
        "dynamic address kept"
    );
}

#[tokio::test]
async fn delete_answers_202_with_location_then_the_resource_is_gone() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "n1");
    sim.create(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    let d = sim.delete(&nic, NET).await;
    assert_eq!(d.status, 202);
    let location = d.header("location").expect("Location").to_string();
    assert_eq!(
        sim.get(&nic, NET).await.body["properties"]["provisioningState"],
        "Deleting"
    );
    let poll = sim.call("GET", &sim.path_of(&location), None, &[]).await;
    assert_eq!(poll.status, 202);
    sim.advance(5.0).await;
    let poll = sim.call("GET", &sim.path_of(&location), None, &[]).await;
    assert_eq!(poll.status, 204);
    let g = sim.get(&nic, NET).await;
    assert_eq!(g.status, 404);
    assert_eq!(g.code(), "ResourceNotFound");
    assert!(g.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("Microsoft.Network/networkInterfaces/n1"));
    assert_eq!(
        sim.delete(&nic, NET).await.status,
        204,
        "deleting what is absent"
    );
}

#[tokio::test]
async fn missing_resource_group_and_parent_are_reported_like_arm() {
    let sim = Sim::start().await;
    let r = sim
        .put(
            &sim.id("nope", "Microsoft.Compute/availabilitySets", "a"),
            COMPUTE,
            json!({ "location": "westeurope" }),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));
    sim.group("rg").await;
    let r = sim
        .put(
            &format!(
                "{}/subnets/s",
                sim.id("rg", "Microsoft.Network/virtualNetworks", "none")
            ),
            NET,
            json!({ "properties": { "addressPrefix": "10.0.0.0/24" } }),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "ParentResourceNotFound"));
    let r = sim.get(&sim.rg("absent"), RG).await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Compute/availabilitySets", "a"),
            COMPUTE,
            json!({ "properties": {} }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "LocationRequired"));
}

#[tokio::test]
async fn unsupported_api_versions_are_refused_with_the_supported_list() {
    let sim = Sim::start().await;
    let r = sim.get(&sim.rg("rg"), "2019-01-01").await;
    assert_eq!((r.status, r.code()), (400, "NoRegisteredProviderFound"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains(RG));
    let r = sim.call("GET", &sim.rg("rg"), None, &[]).await;
    assert_eq!(r.code(), "MissingApiVersionParameter");
    let r = sim.get(&sim.rg("rg"), "yesterday").await;
    assert_eq!(r.code(), "InvalidApiVersionParameter");
}

#[tokio::test]
async fn etags_guard_updates() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let zone = sim.id("rg", "Microsoft.Network/dnsZones", "example.com");
    let r = sim.put(&zone, DNS, json!({ "location": "global" })).await;
    assert_eq!(r.status, 201);
    let etag = r.header("etag").expect("ETag").to_string();
    let stale = sim
        .call(
            "PUT",
            &format!("{zone}?api-version={DNS}"),
            Some(&json!({ "location": "global" })),
            &[("if-match", "\"stale\"")],
        )
        .await;
    assert_eq!((stale.status, stale.code()), (412, "PreconditionFailed"));
    let fresh = sim
        .call(
            "PUT",
            &format!("{zone}?api-version={DNS}"),
            Some(&json!({ "location": "global" })),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(fresh.status, 200);
    assert_ne!(
        fresh.header("etag"),
        Some(etag.as_str()),
        "a write changes the ETag"
    );
    let none = sim
        .call(
            "PUT",
            &format!("{zone}?api-version={DNS}"),
            Some(&json!({ "location": "global" })),
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(none.status, 412);
    let other = sim.id("rg", "Microsoft.Network/dnsZones", "other.com");
    let created = sim
        .call(
            "PUT",
            &format!("{other}?api-version={DNS}"),
            Some(&json!({ "location": "global" })),
            &[("if-none-match", "*")],
        )
        .await;
    assert_eq!(created.status, 201);
}

#[tokio::test]
async fn patch_replaces_tags_only() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let set = sim.id("rg", "Microsoft.Compute/availabilitySets", "as");
    sim.create(&set, COMPUTE, json!({ "location": "westeurope", "tags": { "a": "1" }, "properties": { "platformFaultDomainCount": 2 } })).await;
    let r = sim
        .call(
            "PATCH",
            &format!("{set}?api-version={COMPUTE}"),
            Some(&json!({ "tags": { "b": "2" } })),
            &[],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["tags"], json!({ "b": "2" }));
    assert_eq!(r.body["properties"]["platformFaultDomainCount"], 2);
}

#[tokio::test]
async fn lists_page_with_next_link() {
    let mut config = frozen();
    config.page_size = 2;
    let sim = Sim::with(config).await;
    sim.group("rg").await;
    for i in 0..5 {
        sim.create(
            &sim.id(
                "rg",
                "Microsoft.Compute/availabilitySets",
                &format!("as{i}"),
            ),
            COMPUTE,
            json!({ "location": "westeurope" }),
        )
        .await;
    }
    let mut path = format!(
        "{}/providers/Microsoft.Compute/availabilitySets?api-version={COMPUTE}",
        sim.rg("rg")
    );
    let mut names = Vec::new();
    loop {
        let r = sim.call("GET", &path, None, &[]).await;
        assert_eq!(r.status, 200);
        for v in r.body["value"].as_array().expect("value") {
            names.push(v["name"].as_str().expect("name").to_string());
        }
        match r.body["nextLink"].as_str() {
            Some(next) => path = sim.path_of(next),
            None => break,
        }
    }
    assert_eq!(names, ["as0", "as1", "as2", "as3", "as4"]);
}

#[tokio::test]
async fn concurrent_network_writes_get_retryable_error() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "n1");
    assert_eq!(
        sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await.status,
        201
    );
    let again = sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    assert_eq!(
        (again.status, again.code()),
        (429, "RetryableErrorDueToAnotherOperation")
    );
    assert!(again.header("retry-after").is_some());
    sim.advance(3.0).await;
    assert_eq!(
        sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await.status,
        200
    );
}

#[tokio::test]
async fn faults_inject_errors_failed_operations_and_dropped_connections() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let set = sim.id("rg", "Microsoft.Compute/availabilitySets", "as");
    let f = sim.control("POST", "/_sim/faults", Some(json!({ "method": "PUT", "glob": "**/availabilitySets/*", "times": 1, "status": 500, "error": { "code": "InternalServerError", "message": "boom" } }))).await;
    assert_eq!(f.status, 201);
    let r = sim
        .put(&set, COMPUTE, json!({ "location": "westeurope" }))
        .await;
    assert_eq!((r.status, r.code()), (500, "InternalServerError"));
    assert_eq!(
        sim.put(&set, COMPUTE, json!({ "location": "westeurope" }))
            .await
            .status,
        200,
        "the rule fired once (AvailabilitySets_CreateOrUpdate answers 200)"
    );

    let subnet = sim.network("rg2").await;
    sim.control("POST", "/_sim/faults", Some(json!({ "method": "PUT", "path": "networkInterfaces/bad$", "asyncOutcome": "Failed", "error": { "code": "InternalError", "message": "disk on fire" } }))).await;
    let nic = sim.id("rg2", "Microsoft.Network/networkInterfaces", "bad");
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    let status_url = r.header("azure-asyncoperation").expect("async").to_string();
    sim.advance(5.0).await;
    let poll = sim.call("GET", &sim.path_of(&status_url), None, &[]).await;
    assert_eq!(poll.body["status"], "Failed");
    assert_eq!(poll.body["error"]["code"], "InternalError");
    assert_eq!(
        sim.get(&nic, NET).await.body["properties"]["provisioningState"],
        "Failed"
    );

    sim.control("POST", "/_sim/faults", Some(json!({ "method": "GET", "glob": "/subscriptions/*/resourceGroups/dropme", "drop": true }))).await;
    let auth = format!("Bearer {}", sim.token);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = hyper::Request::get(format!("{}{}?api-version={RG}", sim.base, sim.rg("dropme")))
        .header("authorization", auth)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("request");
    assert!(
        client.request(req).await.is_err(),
        "connection closed without an answer"
    );
    assert_eq!(
        sim.control("DELETE", "/_sim/faults", None).await.status,
        204
    );
    assert_eq!(sim.get(&sim.rg("dropme"), RG).await.status, 404);
}

#[tokio::test]
async fn never_finishing_and_canceled_operations() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    sim.control(
        "POST",
        "/_sim/faults",
        Some(json!([
            { "method": "PUT", "path": "/n-never$", "asyncOutcome": "Never" },
            { "method": "PUT", "path": "/n-cancel$", "asyncOutcome": "Canceled" }
        ])),
    )
    .await;
    let never = sim.id("rg", "Microsoft.Network/networkInterfaces", "n-never");
    let cancel = sim.id("rg", "Microsoft.Network/networkInterfaces", "n-cancel");
    let a = sim.put(&never, NET, Sim::nic_body(&subnet, &[])).await;
    let b = sim.put(&cancel, NET, Sim::nic_body(&subnet, &[])).await;
    sim.advance(10_000.0).await;
    let a = sim
        .call(
            "GET",
            &sim.path_of(a.header("azure-asyncoperation").expect("url")),
            None,
            &[],
        )
        .await;
    let b = sim
        .call(
            "GET",
            &sim.path_of(b.header("azure-asyncoperation").expect("url")),
            None,
            &[],
        )
        .await;
    assert_eq!(a.body["status"], "InProgress");
    assert_eq!(b.body["status"], "Canceled");
}
