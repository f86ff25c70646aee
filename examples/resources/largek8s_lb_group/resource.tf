# Standard load balancers over a pool's availability sets, with a DNS round-robin record.
resource "largek8s_lb_group" "web" {
  name                = "web"
  resource_group_name = "largek8s-demo"
  location            = "westeurope"
  sku                 = "Standard"

  # The pool's availability sets as they are; or a list of { availability_set_id, nic_ids }.
  backend_sets = largek8s_pool.web.availability_sets

  rules = [
    { name = "http", protocol = "Tcp", frontend_port = 80, backend_port = 30080, probe_name = "http" },
    { name = "https", protocol = "Tcp", frontend_port = 443, backend_port = 30443, probe_name = "http" },
  ]
  probes = [
    { name = "http", protocol = "Http", port = 30080, request_path = "/healthz" },
  ]

  dns = {
    zone_name                = "example.com"
    zone_resource_group_name = "dns"
    record_name              = "www"
  }

  timeouts {
    create = "45m"
  }
}

# One Service per load balancer, pinned to it.
output "service_annotations" {
  value = largek8s_lb_group.web.service_annotations
}
