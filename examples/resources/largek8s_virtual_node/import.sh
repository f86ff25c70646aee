# A virtual node is imported by its subnet's ID; the cluster is found through the add-on's service association link.
terraform import largek8s_virtual_node.aci /subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/virtual-node-aci
