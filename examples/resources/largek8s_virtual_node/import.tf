# Terraform 1.5+ import block: `terraform plan -generate-config-out=generated.tf` writes the configuration.
import {
  to = largek8s_virtual_node.aci
  id = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/virtual-node-aci"
}
