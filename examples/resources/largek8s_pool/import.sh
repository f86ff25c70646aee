# A pool is imported by its pool ID: the provider finds its availability sets by name and ownership tag,
# and their VMs and NICs.
terraform import largek8s_pool.agents /subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/largek8s/pools/agents
