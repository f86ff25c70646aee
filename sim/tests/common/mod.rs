//! Test harness: an in-process simulator on 127.0.0.1:0 with a frozen clock, and a small ARM client.

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use largek8s_sim::{start, Config, Running};
use serde_json::{json, Value};

pub const NET: &str = "2024-03-01";
pub const COMPUTE: &str = "2024-07-01";
pub const AUTHZ: &str = "2022-04-01";
pub const RG: &str = "2021-04-01";
pub const AKS: &str = "2024-05-01";
pub const DNS: &str = "2018-05-01";

/// A reply: status, headers (lower-case names), JSON body (`null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub struct Sim {
    pub base: String,
    pub sub: String,
    pub running: Running,
    client: Client<HttpConnector, Full<Bytes>>,
    pub token: String,
}

/// A configuration whose clock practically stands still, so tests move time only with `advance`.
pub fn frozen() -> Config {
    Config {
        time_scale: 1e-9,
        token_lifetime: 1e9,
        ..Config::default()
    }
}

impl Sim {
    pub async fn start() -> Self {
        Self::with(frozen()).await
    }

    pub async fn with(config: Config) -> Self {
        let running = start(config).await.expect("simulator starts");
        let client = Client::builder(TokioExecutor::new()).build_http();
        let mut sim = Sim {
            base: running.base_url.clone(),
            sub: running.sim.config.subscription.clone(),
            running,
            client,
            token: String::new(),
        };
        sim.token = sim.fetch_token().await;
        sim
    }

    pub async fn fetch_token(&self) -> String {
        let c = &self.running.sim.config;
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&scope=https%3A%2F%2Fmanagement.azure.com%2F.default",
            c.client_id, c.client_secret
        );
        let r = self
            .raw(
                "POST",
                &format!("/{}/oauth2/v2.0/token", c.tenant),
                Some(form.into_bytes()),
                &[("content-type", "application/x-www-form-urlencoded")],
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body["access_token"].as_str().expect("token").to_string()
    }

    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        let resp = self.client.request(req).await.expect("response");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON body")
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// An authenticated ARM call; `path` may carry its own query.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ];
        all.extend_from_slice(headers);
        self.raw(
            method,
            path,
            body.map(|b| serde_json::to_vec(b).expect("json")),
            &all,
        )
        .await
    }

    pub async fn put(&self, id: &str, version: &str, body: Value) -> Reply {
        self.call(
            "PUT",
            &format!("{id}?api-version={version}"),
            Some(&body),
            &[],
        )
        .await
    }

    pub async fn get(&self, id: &str, version: &str) -> Reply {
        self.call("GET", &format!("{id}?api-version={version}"), None, &[])
            .await
    }

    pub async fn delete(&self, id: &str, version: &str) -> Reply {
        self.call("DELETE", &format!("{id}?api-version={version}"), None, &[])
            .await
    }

    /// Moves simulated time forward.
    pub async fn advance(&self, seconds: f64) {
        let r = self
            .raw(
                "POST",
                "/_sim/clock",
                Some(serde_json::to_vec(&json!({ "advance_seconds": seconds })).expect("json")),
                &[],
            )
            .await;
        assert_eq!(r.status, 200);
    }

    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.raw(
            method,
            path,
            body.map(|b| serde_json::to_vec(&b).expect("json")),
            &[],
        )
        .await
    }

    /// URL path of an absolute URL the simulator handed out.
    pub fn path_of(&self, url: &str) -> String {
        url.strip_prefix(&self.base)
            .expect("URL on the simulator")
            .to_string()
    }

    // ---- IDs and fixtures ----

    pub fn rg(&self, name: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{name}", self.sub)
    }

    pub fn id(&self, rg: &str, provider_type: &str, name: &str) -> String {
        format!("{}/providers/{provider_type}/{name}", self.rg(rg))
    }

    /// Creates a resource and waits (in simulated time) until it has been provisioned. Availability sets have
    /// no provisioningState in the Compute spec, so for them success is the resource being there.
    pub async fn create(&self, id: &str, version: &str, body: Value) -> Value {
        let r = self.put(id, version, body).await;
        assert!(
            r.status == 201 || r.status == 200,
            "PUT {id}: {} {:?}",
            r.status,
            r.body
        );
        self.advance(600.0).await;
        let g = self.get(id, version).await;
        assert_eq!(g.status, 200, "{:?}", g.body);
        let stateless = id
            .to_ascii_lowercase()
            .contains("/microsoft.compute/availabilitysets/");
        let expected = if stateless {
            Value::Null
        } else {
            json!("Succeeded")
        };
        assert_eq!(
            g.body["properties"]["provisioningState"], expected,
            "{:?}",
            g.body
        );
        g.body
    }

    pub async fn group(&self, name: &str) {
        self.create(&self.rg(name), RG, json!({ "location": "westeurope" }))
            .await;
    }

    /// A resource group with a VNet 10.0.0.0/16 and subnet `nodes` 10.0.0.0/20; returns the subnet ID.
    pub async fn network(&self, rg: &str) -> String {
        self.group(rg).await;
        let vnet = self.id(rg, "Microsoft.Network/virtualNetworks", "vnet");
        self.create(
            &vnet,
            NET,
            json!({ "location": "westeurope", "properties": { "addressSpace": { "addressPrefixes": ["10.0.0.0/16"] }, "subnets": [{ "name": "nodes", "properties": { "addressPrefix": "10.0.0.0/20" } }] } }),
        )
        .await;
        format!("{vnet}/subnets/nodes")
    }

    pub fn nic_body(subnet: &str, pools: &[&str]) -> Value {
        let pools: Vec<Value> = pools.iter().map(|p| json!({ "id": p })).collect();
        json!({ "location": "westeurope", "properties": { "ipConfigurations": [{ "name": "ipconfig1", "properties": { "subnet": { "id": subnet }, "loadBalancerBackendAddressPools": pools } }] } })
    }

    pub fn vm_body(nic: &str, avset: Option<&str>) -> Value {
        let mut b = json!({
            "location": "westeurope",
            "properties": {
                "hardwareProfile": { "vmSize": "Standard_D2s_v5" },
                "storageProfile": {
                    "imageReference": { "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest" },
                    "osDisk": { "createOption": "FromImage", "deleteOption": "Delete" },
                },
                "osProfile": { "computerName": "node", "adminUsername": "azureuser", "adminPassword": "S3cret!", "customData": "I2Nsb3VkLWNvbmZpZw==" },
                "networkProfile": { "networkInterfaces": [{ "id": nic, "properties": { "deleteOption": "Delete" } }] },
            },
        });
        if let Some(set) = avset {
            b["properties"]["availabilitySet"] = json!({ "id": set });
        }
        b
    }

    /// A NIC in `subnet` and a VM on it; returns (vm ID, NIC ID).
    pub async fn node(
        &self,
        rg: &str,
        name: &str,
        subnet: &str,
        avset: Option<&str>,
        pools: &[&str],
    ) -> (String, String) {
        let nic = self.id(
            rg,
            "Microsoft.Network/networkInterfaces",
            &format!("{name}-nic"),
        );
        let r = self.put(&nic, NET, Self::nic_body(subnet, pools)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let vm = self.id(rg, "Microsoft.Compute/virtualMachines", name);
        let r = self.put(&vm, COMPUTE, Self::vm_body(&nic, avset)).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        (vm, nic)
    }
}
