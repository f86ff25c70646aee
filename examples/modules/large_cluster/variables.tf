variable "name" {
  description = "Prefix of every resource the module creates."
  type        = string
}

variable "resource_group_name" {
  description = "Resource group for the pool and its load balancers."
  type        = string
}

variable "location" {
  description = "Azure region."
  type        = string
}

variable "node_subnet_id" {
  description = "ARM ID of the subnet the nodes join, e.g. azurerm_subnet.nodes.id."
  type        = string
}

variable "cluster_id" {
  description = "ARM ID of the AKS cluster for the virtual node, e.g. azurerm_kubernetes_cluster.aks.id."
  type        = string
  default     = null
}

variable "virtual_node_prefix" {
  description = "Address prefix of the virtual node's delegated subnet; null for no virtual node."
  type        = string
  default     = null
}

variable "node_count" {
  description = "Nodes in the pool."
  type        = number
}

variable "max_nodes_per_set" {
  description = "Most nodes per availability set (Azure allows 200)."
  type        = number
  default     = 100
}

variable "vm_size" {
  description = "VM size of the nodes."
  type        = string
  default     = "Standard_D4s_v5"
}

variable "admin_username" {
  description = "Admin user on the nodes."
  type        = string
  default     = "azureuser"
}

variable "ssh_public_keys" {
  description = "OpenSSH public keys for the admin user."
  type        = list(string)
}

variable "load_balancer_rules" {
  description = "Load-balancing rules on every load balancer."
  type = list(object({
    name          = string
    protocol      = string
    frontend_port = number
    backend_port  = number
    probe_name    = optional(string)
  }))
}

variable "load_balancer_probes" {
  description = "Health probes the rules refer to."
  type = list(object({
    name         = string
    protocol     = string
    port         = number
    request_path = optional(string)
  }))
  default = []
}

variable "tags" {
  description = "Tags for everything the module creates."
  type        = map(string)
  default     = {}
}
