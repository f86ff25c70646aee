//! Registration of the provider's resource and data source types.

pub mod client_config;
pub mod context;
pub mod lb_group;
pub mod naming;
pub mod pool;
pub mod timeouts;
pub mod virtual_node;

use std::collections::BTreeMap;

use crate::tf::resource::Resource;
use crate::tf::schema::Schema;

use context::Context;

// Typed ARM IDs and placement policies decode straight from configuration strings, so a malformed one is a
// diagnostic at its attribute.
crate::from_str_value!(crate::arm::ids::ResourceId, crate::layout::Placement);

/// Every managed resource type the provider serves.
pub fn all() -> Vec<Box<dyn Resource<Context>>> {
    vec![
        Box::new(pool::Pool),
        Box::new(lb_group::LbGroup),
        Box::new(virtual_node::VirtualNode),
    ]
}

pub fn data_source_schemas() -> BTreeMap<String, Schema> {
    BTreeMap::from([(
        client_config::TYPE_NAME.to_string(),
        client_config::schema(),
    )])
}
