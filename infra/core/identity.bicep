// The one identity Riposte runs as: storage, Service Bus, Key Vault, Application Insights, and the
// federated credential of both app registrations (Graph in customer tenants, App Service sign-in).

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
