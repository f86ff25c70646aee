//! Registration of the provider's resource and data source types.

pub mod client_config;
pub mod context;
pub mod lb_group;

use std::collections::BTreeMap;

use crate::tf::resource::Resource;
use crate::tf::schema::Schema;

use context::Context;

/// Every managed resource type the provider serves.
pub fn all() -> Vec<Box<dyn Resource<Context>>> {
    vec![Box::new(lb_group::LbGroup)]
}

pub fn data_source_schemas() -> BTreeMap<String, Schema> {
    BTreeMap::from([(
        client_config::TYPE_NAME.to_string(),
        client_config::schema(),
    )])
}
