# The cluster and its VNet by ARM ID. In a configuration that manages them with the azurerm provider, use
# azurerm_virtual_network.aks.id and azurerm_kubernetes_cluster.aks.id instead.
data "largek8s_client_config" "current" {}

locals {
  group_id = "/subscriptions/${data.largek8s_client_config.current.subscription_id}/resourceGroups/largek8s-demo"
}

# Burst pods into Azure Container Instances when the cluster's nodes are full.
resource "largek8s_virtual_node" "aci" {
  virtual_network_id = "${local.group_id}/providers/Microsoft.Network/virtualNetworks/largek8s-vnet"
  subnet_name        = "virtual-node-aci"
  address_prefix     = "10.0.16.0/24"
  cluster_id         = "${local.group_id}/providers/Microsoft.ContainerService/managedClusters/largek8s-aks"

  timeouts {
    create = "30m"
  }
}

# The identity the ACI connector runs as, to grant it more (e.g. AcrPull on a registry).
output "connector_identity" {
  value = largek8s_virtual_node.aci.connector_identity
}

# What a Deployment needs to run on the virtual node: in a kubernetes_deployment, set
# spec.template.spec.node_selector to node_selector and add one toleration block per element of tolerations.
output "burst_scheduling" {
  value = {
    node_selector = largek8s_virtual_node.aci.node_selector
    tolerations   = largek8s_virtual_node.aci.tolerations
  }
}
