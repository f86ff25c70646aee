# The pool the load balancers front: 250 nodes in sets of at most 100.
resource "largek8s_pool" "web" {
  name                = "web"
  resource_group_name = "largek8s-demo"
  location            = "westeurope"
  node_count          = 250
  vm_size             = "Standard_D2s_v5"
  subnet_id           = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes"
  admin_username      = "azureuser"
  ssh_public_keys     = [file("~/.ssh/id_ed25519.pub")]
}

# Standard load balancers over the pool's availability sets, with a DNS round-robin record in an existing zone.
resource "largek8s_lb_group" "web" {
  name                = "web"
  resource_group_name = "largek8s-demo"
  location            = "westeurope"
  sku                 = "Standard"

  # The pool's availability sets as they are; or a list of { availability_set_id, nic_ids }.
  backend_sets = largek8s_pool.web.availability_sets

  # Members by IP address, one write per load balancer for any change (the Standard default);
  # "NodeIPConfiguration" puts them on each node's NIC instead.
  backend_pool_type = "NodeIP"

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
