# Terraform 1.5+ import block: `terraform plan -generate-config-out=generated.tf` writes the configuration.
import {
  to = largek8s_lb_group.web
  id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Largek8s.Network/lbGroups/web"
}
