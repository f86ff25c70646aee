//! DNS zones and their A record sets (Microsoft.Network/dnsZones, api-version 2018-05-01).

use super::{key, props, Prepared, PutCtx};
use crate::cidr::parse_ip;
use crate::error::ArmError;
use crate::store::{Resource, World};
use serde_json::{json, Value};

pub fn put_zone(_ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    body["location"] = json!("global");
    let p = props(&mut body);
    p.entry("zoneType").or_insert(json!("Public"));
    p.insert("maxNumberOfRecordSets".into(), json!(10000));
    p.insert(
        "nameServers".into(),
        json!([
            "ns1-01.azure-dns.com.",
            "ns2-01.azure-dns.net.",
            "ns3-01.azure-dns.org.",
            "ns4-01.azure-dns.info."
        ]),
    );
    p.remove("provisioningState");
    Ok(Prepared::body(body))
}

pub fn put_a_record_set(ctx: &PutCtx<'_>, mut body: Value) -> Result<Prepared, ArmError> {
    let zone = ctx.id.parent_id().unwrap_or_default();
    let zone_name = zone.rsplit('/').next().unwrap_or("").to_string();
    if let Some(records) = body["properties"]["ARecords"].as_array() {
        for r in records {
            let ip = r["ipv4Address"].as_str().unwrap_or("");
            if parse_ip(ip).is_none() {
                return Err(ArmError::bad_request(
                    "BadRequest",
                    format!("The value '{ip}' is not a valid IPv4 address for an A record."),
                ));
            }
        }
    }
    let fqdn = if ctx.id.name == "@" {
        format!("{zone_name}.")
    } else {
        format!("{}.{zone_name}.", ctx.id.name)
    };
    let p = props(&mut body);
    p.insert("fqdn".into(), json!(fqdn));
    p.entry("TTL").or_insert(json!(3600));
    p.remove("provisioningState");
    Ok(Prepared::body(body))
}

pub fn render_zone(world: &World, r: &Resource, body: &mut Value) {
    let count = world
        .children(&key(&r.id), "microsoft.network/dnszones/a")
        .count();
    props(body).insert("numberOfRecordSets".into(), json!(count + 2));
    body["etag"] = json!(r.etag);
}
