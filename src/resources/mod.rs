//! Registration of the provider's resource and data source types.

pub mod client_config;

use std::collections::BTreeMap;

use crate::tf::schema::Schema;

pub fn data_source_schemas() -> BTreeMap<String, Schema> {
    BTreeMap::from([(
        client_config::TYPE_NAME.to_string(),
        client_config::schema(),
    )])
}
