# Terraform 1.5+ import blocks: `terraform plan -generate-config-out=generated.tf` writes the configuration.
# The group's backend_sets come from the pool, so the pool is imported with it.
import {
  to = largek8s_pool.web
  id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/largek8s/pools/web"
}

import {
  to = largek8s_lb_group.web
  id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Largek8s.Network/lbGroups/web"
}
