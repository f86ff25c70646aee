# Burst pods into Azure Container Instances when the cluster's nodes are full.
resource "largek8s_virtual_node" "aci" {
  virtual_network_id = azurerm_virtual_network.aks.id
  subnet_name        = "virtual-node-aci"
  address_prefix     = "10.0.16.0/24"
  cluster_id         = azurerm_kubernetes_cluster.aks.id

  timeouts {
    create = "30m"
  }
}

# A Deployment that may run on the virtual node.
resource "kubernetes_deployment" "burst" {
  metadata {
    name = "burst"
  }
  spec {
    replicas = 10
    selector {
      match_labels = { app = "burst" }
    }
    template {
      metadata {
        labels = { app = "burst" }
      }
      spec {
        node_selector = largek8s_virtual_node.aci.node_selector
        dynamic "toleration" {
          for_each = largek8s_virtual_node.aci.tolerations
          content {
            key      = toleration.value.key
            operator = toleration.value.operator
            effect   = toleration.value.effect
          }
        }
        container {
          name  = "app"
          image = "mcr.microsoft.com/azuredocs/aci-helloworld"
        }
      }
    }
  }
}
