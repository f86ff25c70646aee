# Credentials come from the same ARM_* environment variables as the azurerm provider
# (ARM_SUBSCRIPTION_ID, ARM_TENANT_ID, ARM_CLIENT_ID and ARM_CLIENT_SECRET, or OIDC, MSI or the Azure CLI).
provider "largek8s" {}

# Azure Stack Hub, or another cloud described by a metadata endpoint:
# provider "largek8s" {
#   metadata_host = "management.local.azurestack.external"
# }

# Who the provider signed in as, e.g. to build ARM IDs.
data "largek8s_client_config" "current" {}

output "subscription_id" {
  value = data.largek8s_client_config.current.subscription_id
}
