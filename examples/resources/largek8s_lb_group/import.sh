# A group is imported by its id: the resource group ID, then the Largek8s.Network/lbGroups/<name> segment.
# Its backend_sets come from the pool, so import the pool first.
terraform import largek8s_pool.web \
  /subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/largek8s/pools/web
terraform import largek8s_lb_group.web \
  /subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Largek8s.Network/lbGroups/web
