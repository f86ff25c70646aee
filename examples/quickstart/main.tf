# Quickstart: a 450-node pool split across availability sets, Standard load balancers in front of it, and a
# virtual node for bursting into Azure Container Instances.
#
# `scripts/demo` runs it against the largek8s-sim ARM simulator's demo world (resource group largek8s-demo,
# VNet largek8s-vnet with subnet "nodes", AKS cluster largek8s-aks) and sets ARM_ENDPOINT and the ARM_*
# credentials for it. Against real Azure, set the ARM_* variables as for the azurerm provider and point the
# variables below at your own resource group, VNet and cluster.
terraform {
  required_version = ">= 1.11"
  required_providers {
    largek8s = {
      source = "largek8s/largek8s"
    }
  }
}

variable "resource_group_name" {
  type    = string
  default = "largek8s-demo"
}

variable "location" {
  type    = string
  default = "westeurope"
}

variable "virtual_network_name" {
  type    = string
  default = "largek8s-vnet"
}

variable "cluster_name" {
  type    = string
  default = "largek8s-aks"
}

variable "node_count" {
  description = "Nodes in the pool."
  type        = number
  default     = 450
}

variable "ssh_public_key" {
  description = "OpenSSH public key for the nodes' admin user."
  type        = string
  default     = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKeyForTheSimulatorOnly0000000000000000 demo"
}

provider "largek8s" {}

data "largek8s_client_config" "current" {}

locals {
  group_id   = "/subscriptions/${data.largek8s_client_config.current.subscription_id}/resourceGroups/${var.resource_group_name}"
  vnet_id    = "${local.group_id}/providers/Microsoft.Network/virtualNetworks/${var.virtual_network_name}"
  cluster_id = "${local.group_id}/providers/Microsoft.ContainerService/managedClusters/${var.cluster_name}"
}

resource "largek8s_pool" "agents" {
  name                = "agents"
  resource_group_name = var.resource_group_name
  location            = var.location
  node_count          = var.node_count
  max_nodes_per_set   = 100
  vm_size             = "Standard_D2s_v5"
  subnet_id           = "${local.vnet_id}/subnets/nodes"
  admin_username      = "azureuser"
  ssh_public_keys     = [var.ssh_public_key]
}

resource "largek8s_lb_group" "web" {
  name                = "web"
  resource_group_name = var.resource_group_name
  location            = var.location
  sku                 = "Standard"
  backend_sets        = largek8s_pool.agents.availability_sets

  rules = [
    { name = "https", protocol = "Tcp", frontend_port = 443, backend_port = 30443, probe_name = "https" },
  ]
  probes = [
    { name = "https", protocol = "Tcp", port = 30443 },
  ]
}

resource "largek8s_virtual_node" "aci" {
  virtual_network_id = local.vnet_id
  subnet_name        = "virtual-node-aci"
  address_prefix     = "10.0.16.0/24"
  cluster_id         = local.cluster_id
}

output "availability_sets" {
  description = "Each availability set's name and size."
  value       = { for s in largek8s_pool.agents.availability_sets : s.name => s.node_count }
}

output "planned_set_sizes" {
  description = "The same sizes from the pool_layout function, known before anything is created."
  value       = provider::largek8s::pool_layout(var.node_count, 100)
}

output "load_balancers" {
  value = { for lb in largek8s_lb_group.web.load_balancers : lb.name => lb.backend_node_count }
}

output "frontend_ips" {
  value = largek8s_lb_group.web.frontend_ips
}

output "virtual_node" {
  value = {
    subnet_id     = largek8s_virtual_node.aci.subnet_id
    node_name     = largek8s_virtual_node.aci.node_name
    node_selector = largek8s_virtual_node.aci.node_selector
  }
}
