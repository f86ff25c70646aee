# 450 nodes in availability sets of at most 100 VMs: agents-as-0 .. agents-as-3 hold 100 each, agents-as-4 holds 50.
resource "largek8s_pool" "agents" {
  name                = "agents"
  resource_group_name = "largek8s-demo"
  location            = "westeurope"
  node_count          = 450
  max_nodes_per_set   = 100
  vm_size             = "Standard_D2s_v5"
  subnet_id           = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/largek8s-demo/providers/Microsoft.Network/virtualNetworks/largek8s-vnet/subnets/nodes"
  admin_username      = "azureuser"
  ssh_public_keys     = [file("~/.ssh/id_ed25519.pub")]

  os_disk = {
    size_gb              = 64
    storage_account_type = "Premium_LRS"
  }

  custom_data         = file("${path.module}/cloud-init.yaml")
  custom_data_version = 1 # change it with cloud-init.yaml to roll the new bootstrap out

  # A change of vm_size, image, os_disk, admin_username, ssh_public_keys or custom_data_version
  # replaces (or resizes) the nodes 10% at a time.
  upgrade = {
    max_unavailable = "10%"
  }

  tags = {
    environment = "production"
  }

  timeouts {
    create = "90m"
  }
}

# Set sizes, e.g. for one Basic load balancer per set.
output "set_sizes" {
  value = [for s in largek8s_pool.agents.availability_sets : s.node_count]
}
