# Quickstart: run with scripts/demo, which starts the largek8s-sim ARM simulator and sets ARM_ENDPOINT and
# the ARM_* credentials for it. Against real Azure, set the ARM_* variables as for the azurerm provider.
terraform {
  required_version = ">= 1.11"
  required_providers {
    largek8s = {
      source = "largek8s/largek8s"
    }
  }
}

variable "node_count" {
  description = "Nodes in the pool."
  type        = number
  default     = 450
}

variable "max_nodes_per_set" {
  description = "Most nodes in one availability set (Azure allows 200; 100 fits one Basic load balancer)."
  type        = number
  default     = 100
}

provider "largek8s" {}

data "largek8s_client_config" "current" {}

locals {
  set_sizes = provider::largek8s::pool_layout(var.node_count, var.max_nodes_per_set)
}

output "subscription_id" {
  value = data.largek8s_client_config.current.subscription_id
}

output "arm_endpoint" {
  value = data.largek8s_client_config.current.arm_endpoint
}

output "availability_set_sizes" {
  description = "Nodes per availability set for this pool."
  value       = local.set_sizes
}

output "availability_set_count" {
  value = length(local.set_sizes)
}
