# A large agent pool with its load balancers and a virtual node, wired from ARM IDs that an existing azurerm
# configuration already has (azurerm_subnet.nodes.id, azurerm_virtual_network.aks.id,
# azurerm_kubernetes_cluster.aks.id).
terraform {
  required_version = ">= 1.11"
  required_providers {
    largek8s = {
      source = "largek8s/largek8s"
    }
  }
}

locals {
  # /subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<name>
  vnet_id = regex("^(.*)/subnets/[^/]+$", var.node_subnet_id)[0]
}

resource "largek8s_pool" "this" {
  name                = var.name
  resource_group_name = var.resource_group_name
  location            = var.location
  node_count          = var.node_count
  max_nodes_per_set   = var.max_nodes_per_set
  vm_size             = var.vm_size
  subnet_id           = var.node_subnet_id
  admin_username      = var.admin_username
  ssh_public_keys     = var.ssh_public_keys
  tags                = var.tags
}

resource "largek8s_lb_group" "this" {
  name                = "${var.name}-lb"
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "Standard"
  backend_sets        = largek8s_pool.this.availability_sets
  rules               = var.load_balancer_rules
  probes              = var.load_balancer_probes
  tags                = var.tags
}

resource "largek8s_virtual_node" "this" {
  count = var.virtual_node_prefix == null ? 0 : 1

  virtual_network_id = local.vnet_id
  subnet_name        = "${var.name}-aci"
  address_prefix     = var.virtual_node_prefix
  cluster_id         = var.cluster_id
}
