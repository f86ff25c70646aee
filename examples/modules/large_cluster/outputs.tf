output "pool_id" {
  description = "The pool's ID, usable with terraform import."
  value       = largek8s_pool.this.id
}

output "availability_sets" {
  description = "The pool's availability sets and their nodes."
  value       = largek8s_pool.this.availability_sets
}

output "frontend_ips" {
  description = "Frontend IPs of the load balancers."
  value       = largek8s_lb_group.this.frontend_ips
}

output "service_annotations" {
  description = "Per load balancer, the Kubernetes Service annotations that pin a Service to it."
  value       = largek8s_lb_group.this.service_annotations
}

output "virtual_node" {
  description = "Scheduling values for pods that may burst to the virtual node (null without one)."
  value = var.virtual_node_prefix == null ? null : {
    node_selector = largek8s_virtual_node.this[0].node_selector
    tolerations   = largek8s_virtual_node.this[0].tolerations
  }
}
