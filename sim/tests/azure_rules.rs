//! Azure's rules, each with the status and error code a client sees.

mod common;

use common::*;
use largek8s_sim::config::{BasicLb, ThrottleModel};
use serde_json::{json, Value};

fn unthrottled() -> largek8s_sim::Config {
    largek8s_sim::Config {
        throttle: ThrottleModel::Off,
        ..frozen()
    }
}

async fn avset(sim: &Sim, rg: &str, name: &str) -> String {
    let id = sim.id(rg, "Microsoft.Compute/availabilitySets", name);
    sim.create(&id, COMPUTE, json!({ "location": "westeurope", "sku": { "name": "Aligned" }, "properties": { "platformFaultDomainCount": 2, "platformUpdateDomainCount": 5 } })).await;
    id
}

#[tokio::test]
async fn availability_set_domain_counts_are_bounded() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let id = sim.id("rg", "Microsoft.Compute/availabilitySets", "as");
    let r = sim
        .put(
            &id,
            COMPUTE,
            json!({ "location": "westeurope", "properties": { "platformFaultDomainCount": 4 } }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let r = sim
        .put(
            &id,
            COMPUTE,
            json!({ "location": "westeurope", "properties": { "platformUpdateDomainCount": 21 } }),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let r = sim.put(&id, COMPUTE, json!({ "location": "westeurope", "properties": { "platformFaultDomainCount": 3, "platformUpdateDomainCount": 20 } })).await;
    assert_eq!(
        r.status, 200,
        "AvailabilitySets_CreateOrUpdate declares only 200"
    );
}

#[tokio::test]
async fn fault_domain_maximum_is_configurable() {
    let sim = Sim::with(largek8s_sim::Config {
        max_fault_domains: 2,
        ..frozen()
    })
    .await;
    sim.group("rg").await;
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Compute/availabilitySets", "as"),
            COMPUTE,
            json!({ "location": "westeurope", "properties": { "platformFaultDomainCount": 3 } }),
        )
        .await;
    assert_eq!(r.code(), "InvalidParameter");
}

#[tokio::test]
async fn an_availability_set_holds_at_most_200_vms_and_lists_them() {
    let sim = Sim::with(unthrottled()).await;
    let subnet = sim.network("rg").await;
    let set = avset(&sim, "rg", "as").await;
    for i in 0..200 {
        sim.node("rg", &format!("vm{i}"), &subnet, Some(&set), &[])
            .await;
    }
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "extra-nic");
    assert_eq!(
        sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await.status,
        201
    );
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Compute/virtualMachines", "extra"),
            COMPUTE,
            Sim::vm_body(&nic, Some(&set)),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "OperationNotAllowed"));
    let g = sim.get(&set, COMPUTE).await;
    let members = g.body["properties"]["virtualMachines"]
        .as_array()
        .expect("virtualMachines");
    assert_eq!(members.len(), 200);
    assert!(members.iter().any(|m| m["id"]
        .as_str()
        .is_some_and(|id| id.ends_with("/virtualMachines/vm199"))));
}

#[tokio::test]
async fn a_vm_keeps_its_availability_set() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let a = avset(&sim, "rg", "a").await;
    let b = avset(&sim, "rg", "b").await;
    let (vm, nic) = sim.node("rg", "vm", &subnet, Some(&a), &[]).await;
    sim.advance(120.0).await;
    let r = sim.put(&vm, COMPUTE, Sim::vm_body(&nic, Some(&b))).await;
    assert_eq!((r.status, r.code()), (409, "PropertyChangeNotAllowed"));
    let r = sim.put(&vm, COMPUTE, Sim::vm_body(&nic, None)).await;
    assert_eq!(r.code(), "PropertyChangeNotAllowed");
    assert_eq!(
        sim.put(&vm, COMPUTE, Sim::vm_body(&nic, Some(&a)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn references_must_exist() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "n");
    let r = sim
        .put(&nic, NET, Sim::nic_body(&format!("{subnet}x"), &[]))
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidResourceReference"));
    let pool = format!(
        "{}/backendAddressPools/pool",
        sim.id("rg", "Microsoft.Network/loadBalancers", "missing")
    );
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[&pool])).await;
    assert_eq!(r.code(), "InvalidResourceReference");
    let vm = sim.id("rg", "Microsoft.Compute/virtualMachines", "vm");
    let r = sim.put(&vm, COMPUTE, Sim::vm_body(&nic, None)).await;
    assert_eq!((r.status, r.code()), (404, "NotFound"));
    sim.create(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    let r = sim
        .put(
            &vm,
            COMPUTE,
            Sim::vm_body(
                &nic,
                Some(&sim.id("rg", "Microsoft.Compute/availabilitySets", "none")),
            ),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "NotFound"));
}

#[tokio::test]
async fn vm_hides_secrets_and_owns_its_disk_and_nic() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let (vm, nic) = sim.node("rg", "vm", &subnet, None, &[]).await;
    sim.advance(120.0).await;
    let g = sim.get(&vm, COMPUTE).await;
    let os = &g.body["properties"]["osProfile"];
    assert!(
        os.get("adminPassword").is_none() && os.get("customData").is_none(),
        "{os}"
    );
    let disk = g.body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        .as_str()
        .expect("disk id")
        .to_string();
    assert_eq!(sim.get(&disk, COMPUTE).await.status, 200);
    assert_eq!(
        sim.get(&nic, NET).await.body["properties"]["virtualMachine"]["id"],
        vm.as_str()
    );
    let r = sim.delete(&nic, NET).await;
    assert_eq!((r.status, r.code()), (400, "NicInUse"));
    assert_eq!(sim.delete(&vm, COMPUTE).await.status, 202);
    sim.advance(60.0).await;
    assert_eq!(sim.get(&vm, COMPUTE).await.status, 404);
    assert_eq!(
        sim.get(&disk, COMPUTE).await.status,
        404,
        "deleteOption Delete takes the disk"
    );
    assert_eq!(
        sim.get(&nic, NET).await.status,
        404,
        "deleteOption Delete takes the NIC"
    );
}

async fn basic_lb(sim: &Sim, rg: &str, name: &str) -> String {
    let lb = sim.id(rg, "Microsoft.Network/loadBalancers", name);
    sim.create(&lb, NET, json!({ "location": "westeurope", "sku": { "name": "Basic" }, "properties": { "backendAddressPools": [{ "name": "pool" }] } })).await;
    format!("{lb}/backendAddressPools/pool")
}

#[tokio::test]
async fn a_basic_pool_takes_one_availability_set() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let pool = basic_lb(&sim, "rg", "lb").await;
    let a = avset(&sim, "rg", "a").await;
    let b = avset(&sim, "rg", "b").await;
    sim.node("rg", "a1", &subnet, Some(&a), &[&pool]).await;
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "b1-nic");
    assert_eq!(
        sim.put(&nic, NET, Sim::nic_body(&subnet, &[&pool]))
            .await
            .status,
        201
    );
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Compute/virtualMachines", "b1"),
            COMPUTE,
            Sim::vm_body(&nic, Some(&b)),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (
            400,
            "VirtualMachinesInBasicLoadBalancerMustBeInSameAvailabilitySet"
        )
    );
    sim.advance(60.0).await;
    let lb = sim
        .get(&sim.id("rg", "Microsoft.Network/loadBalancers", "lb"), NET)
        .await;
    let members = lb.body["properties"]["backendAddressPools"][0]["properties"]
        ["backendIPConfigurations"]
        .as_array()
        .expect("members")
        .clone();
    assert_eq!(members.len(), 2);
    assert!(members.iter().any(|m| m["id"]
        .as_str()
        .is_some_and(|id| id.ends_with("/networkInterfaces/a1-nic/ipConfigurations/ipconfig1"))));
}

#[tokio::test]
async fn a_basic_pool_has_a_configurable_size_limit() {
    let sim = Sim::with(largek8s_sim::Config {
        basic_lb_max_backend: 2,
        ..frozen()
    })
    .await;
    let subnet = sim.network("rg").await;
    let pool = basic_lb(&sim, "rg", "lb").await;
    for i in 0..2 {
        let nic = sim.id(
            "rg",
            "Microsoft.Network/networkInterfaces",
            &format!("n{i}"),
        );
        assert_eq!(
            sim.put(&nic, NET, Sim::nic_body(&subnet, &[&pool]))
                .await
                .status,
            201
        );
    }
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Network/networkInterfaces", "n2"),
            NET,
            Sim::nic_body(&subnet, &[&pool]),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BasicLoadBalancerBackendPoolLimitReached")
    );
}

#[tokio::test]
async fn public_ip_sku_must_match_the_load_balancer() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let pip = sim.id("rg", "Microsoft.Network/publicIPAddresses", "pip");
    let made = sim
        .create(
            &pip,
            NET,
            json!({ "location": "westeurope", "sku": { "name": "Basic" } }),
        )
        .await;
    assert!(made["properties"]["ipAddress"]
        .as_str()
        .is_some_and(|a| a.starts_with("20.")));
    let lb = sim.id("rg", "Microsoft.Network/loadBalancers", "lb");
    let r = sim.put(&lb, NET, json!({ "location": "westeurope", "sku": { "name": "Standard" }, "properties": { "frontendIPConfigurations": [{ "name": "fe", "properties": { "publicIPAddress": { "id": pip } } }] } })).await;
    assert_eq!((r.status, r.code()), (400, "PublicIPAndLBSkuDoNotMatch"));
    let r = sim.put(&lb, NET, json!({ "location": "westeurope", "sku": { "name": "Basic" }, "properties": { "frontendIPConfigurations": [{ "name": "fe", "properties": { "publicIPAddress": { "id": pip } } }] } })).await;
    assert_eq!(r.status, 201);
    sim.advance(60.0).await;
    assert_eq!(
        sim.delete(&pip, NET).await.code(),
        "PublicIPAddressCannotBeDeleted"
    );
}

#[tokio::test]
async fn basic_sku_creation_can_be_denied_as_since_the_retirement() {
    let sim = Sim::with(largek8s_sim::Config {
        basic_lb: BasicLb::Deny,
        ..frozen()
    })
    .await;
    sim.group("rg").await;
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Network/publicIPAddresses", "pip"),
            NET,
            json!({ "location": "westeurope", "sku": { "name": "Basic" } }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "IPv4BasicSkuPublicIpCountLimitReached")
    );
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Network/loadBalancers", "lb"),
            NET,
            json!({ "location": "westeurope" }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BasicSkuLoadBalancerCountLimitReached")
    );
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Network/loadBalancers", "lb"),
            NET,
            json!({ "location": "westeurope", "sku": { "name": "Standard" } }),
        )
        .await;
    assert_eq!(r.status, 201);
}

#[tokio::test]
async fn subnets_lie_inside_the_vnet_without_overlap() {
    let owned = Sim::start().await;
    let sim = &owned;
    let subnet = sim.network("rg").await;
    let vnet = sim.id("rg", "Microsoft.Network/virtualNetworks", "vnet");
    let vnet = vnet.as_str();
    let put = move |name: &str, prefix: &str| {
        let id = format!("{vnet}/subnets/{name}");
        let body = json!({ "properties": { "addressPrefix": prefix } });
        async move { sim.put(&id, NET, body).await }
    };
    let r = put("out", "10.1.0.0/24").await;
    assert_eq!((r.status, r.code()), (400, "NetcfgSubnetRangeOutsideVnet"));
    let r = put("overlap", "10.0.8.0/24").await;
    assert_eq!((r.status, r.code()), (400, "NetcfgSubnetRangesOverlap"));
    let r = put("bad", "10.0.16.1/24").await;
    assert_eq!(r.code(), "InvalidCIDRNotation");
    let r = put("ok", "10.0.16.0/24").await;
    assert_eq!(r.status, 201);
    sim.advance(10.0).await;
    let list = sim
        .call(
            "GET",
            &format!("{vnet}/subnets?api-version={NET}"),
            None,
            &[],
        )
        .await;
    assert_eq!(list.body["value"].as_array().map(Vec::len), Some(2));
    assert_eq!(sim.get(&subnet, NET).await.status, 200);
}

async fn aci_world(sim: &Sim, plugin: &str) -> (String, String, Value) {
    let nodes = sim.network("rg").await;
    let vnet = sim.id("rg", "Microsoft.Network/virtualNetworks", "vnet");
    let aci = format!("{vnet}/subnets/aci");
    sim.create(&aci, NET, json!({ "properties": { "addressPrefix": "10.0.16.0/24", "delegations": [{ "name": "aci", "properties": { "serviceName": "Microsoft.ContainerInstance/containerGroups" } }] } })).await;
    let cluster = sim.id("rg", "Microsoft.ContainerService/managedClusters", "aks");
    let body = json!({
        "location": "westeurope",
        "identity": { "type": "SystemAssigned" },
        "properties": {
            "dnsPrefix": "aks",
            "agentPoolProfiles": [{ "name": "system", "count": 1, "vmSize": "Standard_D2s_v5", "mode": "System", "vnetSubnetID": nodes }],
            "networkProfile": { "networkPlugin": plugin },
        },
    });
    sim.create(&cluster, AKS, body.clone()).await;
    (aci, cluster, body)
}

fn with_aci(mut body: Value, enabled: bool) -> Value {
    body["properties"]["addonProfiles"] =
        json!({ "aciConnectorLinux": { "enabled": enabled, "config": { "SubnetName": "aci" } } });
    body
}

#[tokio::test]
async fn delegated_subnets_take_no_nics() {
    let sim = Sim::start().await;
    let (aci, _, _) = aci_world(&sim, "azure").await;
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Network/networkInterfaces", "n"),
            NET,
            Sim::nic_body(&aci, &[]),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "NetworkInterfaceCannotUseDelegatedSubnet")
    );
}

#[tokio::test]
async fn aci_connector_links_its_subnet_and_the_link_outlives_the_addon() {
    let sim = Sim::start().await;
    let (aci, cluster, body) = aci_world(&sim, "azure").await;
    let current = sim.get(&cluster, AKS).await;
    let etag = current.header("etag").expect("etag").to_string();
    let stale = sim
        .call(
            "PUT",
            &format!("{cluster}?api-version={AKS}"),
            Some(&with_aci(body.clone(), true)),
            &[("if-match", "\"old\"")],
        )
        .await;
    assert_eq!(stale.status, 412);
    let r = sim
        .call(
            "PUT",
            &format!("{cluster}?api-version={AKS}"),
            Some(&with_aci(body.clone(), true)),
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    sim.advance(120.0).await;
    let s = sim.get(&aci, NET).await;
    assert_eq!(
        s.body["properties"]["serviceAssociationLinks"][0]["properties"]["linkedResourceType"],
        "Microsoft.ContainerInstance/containerGroups"
    );
    let r = sim.delete(&aci, NET).await;
    assert_eq!((r.status, r.code()), (400, "InUseSubnetCannotBeDeleted"));
    let r = sim
        .put(
            &aci,
            NET,
            json!({ "properties": { "addressPrefix": "10.0.16.0/24" } }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "SubnetMissingRequiredDelegation")
    );
    // A PUT that forgets addonProfiles replaces the whole cluster: the add-on is gone, the link is not.
    assert_eq!(sim.put(&cluster, AKS, body).await.status, 200);
    sim.advance(120.0).await;
    let g = sim.get(&cluster, AKS).await;
    assert!(g.body["properties"].get("addonProfiles").is_none());
    assert_eq!(
        sim.get(&aci, NET).await.body["properties"]["serviceAssociationLinks"][0]["properties"]
            ["link"],
        cluster.as_str()
    );
    let r = sim.delete(&aci, NET).await;
    assert_eq!((r.status, r.code()), (400, "InUseSubnetCannotBeDeleted"));
}

const ACI: &str = "2023-05-01";

fn sal(subnet: &str) -> String {
    format!("{subnet}/providers/Microsoft.ContainerInstance/serviceAssociationLinks/default")
}

#[tokio::test]
async fn aci_deletes_the_service_association_link_as_a_long_running_operation() {
    let sim = Sim::start().await;
    let (aci, cluster, body) = aci_world(&sim, "azure").await;
    assert_eq!(
        sim.put(&cluster, AKS, with_aci(body.clone(), true))
            .await
            .status,
        200
    );
    sim.advance(120.0).await;
    assert_eq!(sim.put(&cluster, AKS, body).await.status, 200);
    sim.advance(120.0).await;

    assert_eq!(sim.get(&sal(&aci), ACI).await.status, 405);
    let r = sim.delete(&sal(&aci), NET).await;
    assert_eq!((r.status, r.code()), (400, "NoRegisteredProviderFound"));

    let r = sim.delete(&sal(&aci), ACI).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let status_url = r.header("azure-asyncoperation").expect("operation URL");
    let status_path = sim.path_of(status_url);
    let poll = sim.call("GET", &status_path, None, &[]).await;
    assert_eq!(poll.body["status"], "InProgress");
    // The subnet is busy until ACI has finished.
    let r = sim.delete(&aci, NET).await;
    assert_eq!(
        (r.status, r.code()),
        (429, "RetryableErrorDueToAnotherOperation")
    );
    sim.advance(10.0).await;
    let poll = sim.call("GET", &status_path, None, &[]).await;
    assert_eq!(poll.body["status"], "Succeeded");
    assert!(sim.get(&aci, NET).await.body["properties"]
        .get("serviceAssociationLinks")
        .is_none());

    assert_eq!(
        sim.delete(&sal(&aci), ACI).await.status,
        204,
        "no link left: nothing to do"
    );
    assert_eq!(sim.delete(&aci, NET).await.status, 202);
    sim.advance(10.0).await;
    let r = sim.delete(&sal(&aci), ACI).await;
    assert_eq!(r.status, 404, "the subnet is gone: {:?}", r.body);
}

#[tokio::test]
async fn a_failed_link_delete_keeps_the_link() {
    let sim = Sim::start().await;
    let (aci, cluster, body) = aci_world(&sim, "azure").await;
    assert_eq!(
        sim.put(&cluster, AKS, with_aci(body, true)).await.status,
        200
    );
    sim.advance(120.0).await;
    let fault = json!({ "method": "DELETE", "path": "serviceAssociationLinks", "asyncOutcome": "Failed", "times": 1 });
    assert_eq!(
        sim.control("POST", "/_sim/faults", Some(fault))
            .await
            .status,
        201
    );
    let r = sim.delete(&sal(&aci), ACI).await;
    assert_eq!(r.status, 202);
    sim.advance(10.0).await;
    let poll = sim
        .call(
            "GET",
            &sim.path_of(r.header("azure-asyncoperation").expect("operation URL")),
            None,
            &[],
        )
        .await;
    assert_eq!(poll.body["status"], "Failed");
    let r = sim.delete(&aci, NET).await;
    assert_eq!((r.status, r.code()), (400, "InUseSubnetCannotBeDeleted"));
}

#[tokio::test]
async fn aci_connector_needs_azure_cni_and_a_delegated_subnet() {
    let sim = Sim::start().await;
    let (_, cluster, body) = aci_world(&sim, "kubenet").await;
    let r = sim.put(&cluster, AKS, with_aci(body.clone(), true)).await;
    assert_eq!((r.status, r.code()), (400, "InvalidParameter"));
    let mut cni = body.clone();
    cni["properties"]["networkProfile"]["networkPlugin"] = json!("azure");
    let mut missing = with_aci(cni, true);
    missing["properties"]["addonProfiles"]["aciConnectorLinux"]["config"]["SubnetName"] =
        json!("nodes");
    let r = sim.put(&cluster, AKS, missing).await;
    assert_eq!(r.code(), "InvalidParameter", "nodes is not delegated");
}

#[tokio::test]
async fn role_assignments_conflict_like_azure() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let role = format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/4d97b98b-1d4f-4787-a291-c67834d212e7", sim.sub);
    let other_role = format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", sim.sub);
    let a = format!("{subnet}/providers/Microsoft.Authorization/roleAssignments/11111111-0000-0000-0000-000000000001");
    let body = |role: &str| json!({ "properties": { "roleDefinitionId": role, "principalId": "99999999-8888-7777-6666-555555555555" } });
    let r = sim.put(&a, AUTHZ, body(&role)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["properties"]["scope"], subnet.as_str());
    assert_eq!(
        sim.put(&a, AUTHZ, body(&role)).await.status,
        200,
        "identical re-PUT is idempotent"
    );
    let r = sim.put(&a, AUTHZ, body(&other_role)).await;
    assert_eq!((r.status, r.code()), (409, "RoleAssignmentExists"));
    let b = format!("{subnet}/providers/Microsoft.Authorization/roleAssignments/11111111-0000-0000-0000-000000000002");
    let r = sim.put(&b, AUTHZ, body(&role)).await;
    assert_eq!((r.status, r.code()), (409, "RoleAssignmentExists"));
}

#[tokio::test]
async fn vm_quota_refuses_creation_past_the_limit() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    sim.node("rg", "vm0", &subnet, None, &[]).await;
    assert_eq!(
        sim.control("POST", "/_sim/quota", Some(json!({ "vm_limit": 1 })))
            .await
            .status,
        200
    );
    let nic = sim.id("rg", "Microsoft.Network/networkInterfaces", "vm1-nic");
    sim.put(&nic, NET, Sim::nic_body(&subnet, &[])).await;
    let r = sim
        .put(
            &sim.id("rg", "Microsoft.Compute/virtualMachines", "vm1"),
            COMPUTE,
            Sim::vm_body(&nic, None),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "OperationNotAllowed"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("quota"));
}

#[tokio::test]
async fn dns_a_record_sets_live_in_their_zone() {
    let sim = Sim::start().await;
    sim.group("rg").await;
    let zone = sim.id("rg", "Microsoft.Network/dnsZones", "example.com");
    assert_eq!(
        sim.put(&zone, DNS, json!({ "location": "global" }))
            .await
            .status,
        201
    );
    let rec = format!("{zone}/A/www");
    let r = sim.put(&rec, DNS, json!({ "properties": { "TTL": 60, "ARecords": [{ "ipv4Address": "20.1.2.3" }, { "ipv4Address": "20.1.2.4" }] } })).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["properties"]["fqdn"], "www.example.com.");
    let bad = sim
        .put(
            &format!("{zone}/A/bad"),
            DNS,
            json!({ "properties": { "ARecords": [{ "ipv4Address": "nope" }] } }),
        )
        .await;
    assert_eq!(bad.status, 400);
}

fn ip_pool_lb(sku: &str, pool: Value) -> Value {
    json!({ "location": "westeurope", "sku": { "name": sku }, "properties": { "backendAddressPools": [pool] } })
}

fn address(name: &str, ip: &str, vnet: &str) -> Value {
    json!({ "name": name, "properties": { "ipAddress": ip, "virtualNetwork": { "id": vnet } } })
}

#[tokio::test]
async fn ip_based_backend_pools_follow_azures_limitations() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let vnet = subnet.trim_end_matches("/subnets/nodes").to_string();
    let other_vnet = sim
        .network("other")
        .await
        .trim_end_matches("/subnets/nodes")
        .to_string();
    let (_, nic) = sim.node("rg", "a1", &subnet, None, &[]).await;
    sim.advance(60.0).await;
    let ip = sim.get(&nic, NET).await.body["properties"]["ipConfigurations"][0]["properties"]
        ["privateIPAddress"]
        .as_str()
        .expect("a private IP")
        .to_string();
    let lb = sim.id("rg", "Microsoft.Network/loadBalancers", "lb");
    let pool = format!("{lb}/backendAddressPools/ips");
    let by_ip = |addresses: Vec<Value>| json!({ "name": "ips", "properties": { "loadBalancerBackendAddresses": addresses } });

    // Basic load balancers have no IP-based pools.
    let r = sim
        .put(
            &lb,
            NET,
            ip_pool_lb("Basic", by_ip(vec![address("a1", &ip, &vnet)])),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "IpBasedBackendAddressPoolRequiresStandardSku")
    );

    // Addresses in two virtual networks, or an inbound NAT rule on the pool, are refused.
    let r = sim
        .put(
            &lb,
            NET,
            ip_pool_lb(
                "Standard",
                by_ip(vec![
                    address("a1", &ip, &vnet),
                    address("x", "10.0.0.99", &other_vnet),
                ]),
            ),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "BackendAddressesMustBeInLoadBalancerVirtualNetwork")
    );
    let mut with_nat = ip_pool_lb("Standard", by_ip(vec![address("a1", &ip, &vnet)]));
    with_nat["properties"]["inboundNatRules"] = json!([{ "name": "ssh", "properties": {
        "backendAddressPool": { "id": pool }, "protocol": "Tcp", "frontendPortRangeStart": 50000,
        "frontendPortRangeEnd": 50100, "backendPort": 22 } }]);
    let r = sim.put(&lb, NET, with_nat).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InboundNatRuleCannotTargetIpBasedBackendAddressPool")
    );

    // A Standard pool by IP: one write, and each address names the NIC configuration that holds its IP.
    let r = sim
        .put(
            &lb,
            NET,
            ip_pool_lb("Standard", by_ip(vec![address("a1", &ip, &vnet)])),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    sim.advance(60.0).await;
    let body = sim.get(&lb, NET).await.body;
    let held = &body["properties"]["backendAddressPools"][0]["properties"]
        ["loadBalancerBackendAddresses"][0]["properties"]["networkInterfaceIPConfiguration"]["id"];
    assert!(
        held.as_str().is_some_and(|id| id.eq_ignore_ascii_case(&format!("{nic}/ipConfigurations/ipconfig1"))),
        "{body}"
    );

    // No pool mixes the two forms: a NIC cannot join the IP pool, and a NIC pool cannot take addresses.
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[&pool])).await;
    assert_eq!(
        (r.status, r.code()),
        (
            400,
            "CannotMixIPBasedAddressesAndIPConfigurationsOnLoadBalancerBackendAddressPool"
        )
    );
    let r = sim
        .put(
            &lb,
            NET,
            ip_pool_lb(
                "Standard",
                json!({ "name": "ips", "properties": { "loadBalancerBackendAddresses": [] } }),
            ),
        )
        .await;
    assert!(r.status < 300, "{:?}", r.body);
    sim.advance(60.0).await;
    let r = sim.put(&nic, NET, Sim::nic_body(&subnet, &[&pool])).await;
    assert!(r.status < 300, "{:?}", r.body);
    sim.advance(60.0).await;
    let r = sim
        .put(
            &lb,
            NET,
            ip_pool_lb("Standard", by_ip(vec![address("a1", &ip, &vnet)])),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (
            400,
            "CannotMixIPBasedAddressesAndIPConfigurationsOnLoadBalancerBackendAddressPool"
        )
    );
}

#[tokio::test]
async fn a_vm_in_a_set_resizes_in_place_only_to_a_size_its_cluster_offers() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let set = avset(&sim, "rg", "a").await;
    let (vm, nic) = sim.node("rg", "vm", &subnet, Some(&set), &[]).await;
    sim.advance(120.0).await;
    let sizes = sim.get(&format!("{set}/vmSizes"), COMPUTE).await;
    assert_eq!(sizes.status, 200, "{:?}", sizes.body);
    let names: Vec<&str> = sizes.body["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(names.contains(&"Standard_D4s_v5"), "{names:?}");
    let vm_id = sim.get(&vm, COMPUTE).await.body["properties"]["vmId"].clone();
    let mut body = Sim::vm_body(&nic, Some(&set));
    body["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_D4s_v5");
    assert_eq!(sim.put(&vm, COMPUTE, body).await.status, 200);
    sim.advance(60.0).await;
    assert_eq!(
        sim.get(&vm, COMPUTE).await.body["properties"]["vmId"],
        vm_id,
        "a resize keeps the VM"
    );
    let r = sim
        .control(
            "POST",
            "/_sim/vm-sizes",
            Some(json!({"availabilitySetId": set, "sizes": ["Standard_D4s_v5"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut body = Sim::vm_body(&nic, Some(&set));
    body["properties"]["hardwareProfile"]["vmSize"] = json!("Standard_E4s_v5");
    let r = sim.put(&vm, COMPUTE, body).await;
    assert_eq!((r.status, r.code()), (409, "OperationNotAllowed"));
    assert!(
        r.body.to_string().contains("Standard_D4s_v5"),
        "{:?}",
        r.body
    );
    let listed = sim.get(&format!("{set}/vmSizes"), COMPUTE).await;
    assert_eq!(
        listed.body["value"],
        json!([{"name": "Standard_D4s_v5", "numberOfCores": 4, "memoryInMB": 16384}])
    );
}

#[tokio::test]
async fn a_vm_deleted_with_its_nic_detached_leaves_the_nic_for_a_new_vm() {
    let sim = Sim::start().await;
    let subnet = sim.network("rg").await;
    let set = avset(&sim, "rg", "a").await;
    let (vm, nic) = sim.node("rg", "vm", &subnet, Some(&set), &[]).await;
    let mut body = Sim::vm_body(&nic, Some(&set));
    body["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"] =
        json!("Detach");
    sim.advance(120.0).await;
    assert_eq!(sim.put(&vm, COMPUTE, body.clone()).await.status, 200);
    sim.advance(60.0).await;
    let ip = sim.get(&nic, NET).await.body["properties"]["ipConfigurations"][0]["properties"]
        ["privateIPAddress"]
        .clone();
    let old_id = sim.get(&vm, COMPUTE).await.body["properties"]["vmId"].clone();
    assert_eq!(sim.delete(&vm, COMPUTE).await.status, 202);
    sim.advance(60.0).await;
    let kept = sim.get(&nic, NET).await;
    assert_eq!(kept.status, 200, "deleteOption Detach keeps the NIC");
    assert!(kept.body["properties"].get("virtualMachine").is_none());
    assert_eq!(
        sim.put(&vm, COMPUTE, body).await.status,
        201,
        "a new VM on the kept NIC"
    );
    sim.advance(120.0).await;
    let new = sim.get(&vm, COMPUTE).await;
    assert_ne!(new.body["properties"]["vmId"], old_id);
    assert_eq!(
        sim.get(&nic, NET).await.body["properties"]["ipConfigurations"][0]["properties"]
            ["privateIPAddress"],
        ip,
        "the NIC keeps its address"
    );
}
