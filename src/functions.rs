//! Provider-defined functions: `provider::largek8s::pool_layout`.

use crate::layout::{self, MaxNodesPerSet, Placement};
use crate::tf::function::{Function, FunctionError, Parameter};
use crate::tf::types::Type;
use crate::tf::value::Value;

pub const POOL_LAYOUT: &str = "pool_layout";

pub fn pool_layout_signature() -> Function {
    Function {
        parameters: vec![
            Parameter::new("node_count", Type::Number, "Number of nodes in the pool (a whole number, 0 or more)."),
            Parameter::new(
                "max_nodes_per_set",
                Type::Number,
                "Most nodes one availability set may hold, 1 to 200 (Azure's limit is 200 VMs per set; 100 \
                 keeps each set behind one Basic load balancer).",
            ),
        ],
        return_type: Type::list(Type::Number),
        summary: "Availability set sizes for a pool".to_string(),
        description: "Returns the node count of each availability set that a `largek8s_pool` with these \
                      settings and the default `fill` placement uses, in set order: \
                      `pool_layout(450, 100)` is `[100, 100, 100, 100, 50]`. Use it to size other things \
                      (load balancers, quotas, subnets) from the same numbers."
            .to_string(),
    }
}

/// Reads argument `index` as a whole number, or explains which argument is wrong and why.
fn whole_number(arguments: &[Value], index: usize, name: &str) -> Result<u64, FunctionError> {
    let number = arguments
        .get(index)
        .and_then(Value::as_number)
        .ok_or_else(|| FunctionError::at_argument(format!("{name} must be a number"), index))?;
    if number.is_negative() {
        return Err(FunctionError::at_argument(
            format!("{name} must not be negative, got {number}"),
            index,
        ));
    }
    if !number.is_integer() {
        return Err(FunctionError::at_argument(
            format!("{name} must be a whole number, got {number}"),
            index,
        ));
    }
    number
        .to_u64()
        .ok_or_else(|| FunctionError::at_argument(format!("{name} is too large: {number}"), index))
}

pub fn pool_layout(arguments: &[Value]) -> Result<Value, FunctionError> {
    let node_count = whole_number(arguments, 0, "node_count")?;
    let cap = whole_number(arguments, 1, "max_nodes_per_set")?;
    let cap = MaxNodesPerSet::new(cap).map_err(|_| {
            FunctionError::at_argument(
                format!(
                    "max_nodes_per_set must be between 1 and {} (Azure allows at most {} VMs in one availability \
                     set), got {cap}",
                    layout::AZURE_MAX_VMS_PER_SET,
                    layout::AZURE_MAX_VMS_PER_SET
                ),
            1,
        )
    })?;
    let sizes = layout::split(node_count, cap, Placement::Fill)
        .map_err(|e| FunctionError::at_argument(e.to_string(), 0))?;
    Ok(Value::list(
        sizes.into_iter().map(|n| Value::number(u64::from(n))),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(node_count: Value, cap: Value) -> Result<Vec<u64>, FunctionError> {
        let result = pool_layout(&[node_count, cap])?;
        Ok(result
            .as_list()
            .unwrap()
            .iter()
            .map(|v| v.as_number().unwrap().to_u64().unwrap())
            .collect())
    }

    #[test]
    fn layout_of_450_nodes_at_100_per_set() {
        assert_eq!(
            call(Value::number(450u64), Value::number(100u64)).unwrap(),
            vec![100, 100, 100, 100, 50]
        );
        assert_eq!(
            call(Value::number(0u64), Value::number(100u64)).unwrap(),
            Vec::<u64>::new()
        );
    }

    #[test]
    fn errors_name_the_argument_at_fault() {
        let e = call(Value::number(10u64), Value::number(201u64)).unwrap_err();
        assert_eq!(e.argument, Some(1));
        assert!(e.text.contains("max_nodes_per_set"), "{}", e.text);
        let e = call(Value::number(10u64), Value::number(0u64)).unwrap_err();
        assert_eq!(e.argument, Some(1));
        let e = call(Value::number(-1i64), Value::number(100u64)).unwrap_err();
        assert_eq!(e.argument, Some(0));
        assert!(e.text.contains("negative"));
        let half = crate::tf::number::Number::parse("2.5").unwrap();
        let e = call(Value::Number(half), Value::number(100u64)).unwrap_err();
        assert_eq!(e.argument, Some(0));
        assert!(e.text.contains("whole number"));
    }
}
