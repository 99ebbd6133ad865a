// Riposte: everything `azd up` provisions, in one resource group per azd environment.
// Full check (needs the Bicep CLI and Azure, not available on the project's machines):
//   az bicep build --file infra/main.bicep && azd provision --preview
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name (AZURE_ENV_NAME): names the resource group and the Durable task hub.')
param environmentName string

@minLength(1)
@description('Azure region with Flex Consumption (AZURE_LOCATION).')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of whoever runs azd (AZURE_PRINCIPAL_ID, set by azd): may set the ingestion secret.')
param principalId string = ''

@minLength(36)
@maxLength(36)
@description('Client id of the multi-tenant app registration Riposte acts as in customer tenants (GRAPH_CLIENT_ID).')
param graphClientId string

@minLength(36)
@maxLength(36)
@description('Client id of the single-tenant app registration technicians sign in to (RIPOSTE_API_CLIENT_ID).')
param apiClientId string

@minLength(3)
@description('Mailbox (UPN) in your home tenant that notifications are sent from (RIPOSTE_NOTIFY_SENDER).')
param notifySender string

@description('Home tenant of the notification mailbox (RIPOSTE_NOTIFY_TENANT_ID); empty: this tenant.')
param notifyTenantId string = ''

@description('Public base URL for links in notifications (RIPOSTE_PUBLIC_BASE_URL); empty: the app\'s own URL.')
param publicBaseUrl string = ''

@description('Base URL Microsoft Graph sends change notifications to (RIPOSTE_GRAPH_NOTIFICATION_URL); empty: the app\'s own URL; `none`: no subscriptions, polling only; or `EventGrid:?...&partnertopic=...{tenantId}...` for Event Grid partner topics (docs/deploy.md).')
param graphNotificationUrl string = ''

@description('Key Vault secrets the playbooks use (PSA API keys, webhook signing keys, chat webhook URLs): comma-separated secret names (RIPOSTE_SECRET_NAMES). Each becomes the app setting RIPOSTE_SECRET_<NAME>.')
param secretNames string = ''

// PSA ticketing: the base URL of the PSA the MSP uses (its credentials are Key Vault secrets, secretNames).
@description('HaloPSA base URL, e.g. https://yourmsp.halopsa.com (RIPOSTE_HALOPSA_URL); empty: not used.')
param haloPsaUrl string = ''

@description('HaloPSA tenant, hosted instances only (RIPOSTE_HALOPSA_TENANT).')
param haloPsaTenant string = ''

@description('ConnectWise Manage API base URL (RIPOSTE_CONNECTWISE_URL); empty: not used.')
param connectWiseUrl string = ''

@description('Autotask zone web services URL, e.g. https://webservices5.autotask.net (RIPOSTE_AUTOTASK_URL); empty: not used.')
param autotaskUrl string = ''

@description('Hosts http_request enrichment steps may call, comma-separated, e.g. api.abuseipdb.com,*.example.net (RIPOSTE_HTTP_REQUEST_HOSTS); empty: none (docs/enrichment.md).')
param httpRequestHosts string = ''

@description('Hosts outbound calls (webhooks, chat, PSA, http_request) may reach at a private or loopback address, comma-separated (RIPOSTE_OUTBOUND_PRIVATE_HOSTS); empty: none, every such address is refused (docs/deploy.md).')
param outboundPrivateHosts string = ''

@description('Microsoft Graph endpoint; change only for a national cloud.')
param graphBaseUrl string = 'https://graph.microsoft.com/v1.0'

@description('Exchange Online endpoint for its admin API; change only for a national cloud.')
param exchangeBaseUrl string = 'https://outlook.office365.com'

@description('Microsoft Defender for Endpoint API endpoint: a regional host (e.g. https://eu.api.security.microsoft.com) or a US Government one.')
param defenderBaseUrl string = 'https://api.securitycenter.microsoft.com'
@description('Resource id of a Microsoft Sentinel workspace in this tenant whose incidents Riposte writes back to; empty: none. Its identity gets Microsoft Sentinel Responder there.')
param sentinelWorkspaceId string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
  application: 'riposte'
}
// Durable task hub: letters and digits only, unique per environment (two environments never share one).
var taskHubName = take('Riposte${replace(replace(replace(environmentName, '-', ''), '_', ''), '.', '')}', 45)
var functionAppName = 'func-riposte-${resourceToken}'
var deploymentContainerName = 'app-package-${resourceToken}'
var deadLetterContainerName = 'eventgrid-deadletter'
var ingestSecretName = 'riposte-ingest-secrets'
// Derives tenants' ingestion credentials (shared/ingest_credentials.py). Created by the postprovision hook
// when missing and always referenced, as RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY, whatever RIPOSTE_SECRET_NAMES says.
var ingestCredentialKeyName = 'ingest-credential-key'
// Derives each tenant's Graph subscription clientState (shared/notifications/client_state.py); created and
// referenced like the key above.
var graphNotificationKeyName = 'graph-notification-key'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: 'id-riposte-${resourceToken}'
    location: location
    tags: tags
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-riposte-${resourceToken}'
    applicationInsightsName: 'appi-riposte-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'striposte${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module serviceBus 'core/servicebus.bicep' = {
  name: 'servicebus'
  scope: rg
  params: {
    name: 'sb-riposte-${resourceToken}'
    location: location
    tags: tags
    queueName: 'alerts'
    pollQueueName: 'polls'
    workspaceId: monitoring.outputs.workspaceId
  }
}

module keyVault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-rip-${resourceToken}'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

module eventGrid 'core/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    name: 'evgt-riposte-${resourceToken}'
    location: location
    tags: tags
    workspaceId: monitoring.outputs.workspaceId
  }
}

module functionApp 'app/function-app.bicep' = {
  name: 'function-app'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-riposte-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    workspaceId: monitoring.outputs.workspaceId
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultUri: keyVault.outputs.uri
    ingestSecretName: ingestSecretName
    haloPsaUrl: haloPsaUrl
    haloPsaTenant: haloPsaTenant
    connectWiseUrl: connectWiseUrl
    autotaskUrl: autotaskUrl
    httpRequestHosts: httpRequestHosts
    outboundPrivateHosts: outboundPrivateHosts
    secretNames: union([ingestCredentialKeyName, graphNotificationKeyName], filter(map(split(secretNames, ','), secret => trim(secret)), secret => !empty(secret)))
    taskHubName: taskHubName
    graphBaseUrl: graphBaseUrl
    exchangeBaseUrl: exchangeBaseUrl
    defenderBaseUrl: defenderBaseUrl
    graphClientId: graphClientId
    notifyTenantId: empty(notifyTenantId) ? tenant().tenantId : notifyTenantId
    notifySender: notifySender
    publicBaseUrl: publicBaseUrl
    graphNotificationUrl: graphNotificationUrl
  }
}

module auth 'app/auth.bicep' = {
  name: 'auth'
  scope: rg
  params: {
    functionAppName: functionApp.outputs.name
    apiClientId: apiClientId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    identityPrincipalId: identity.outputs.principalId
    storageAccountName: storage.outputs.name
    deadLetterContainerName: deadLetterContainerName
    serviceBusNamespaceName: serviceBus.outputs.name
    pollQueueName: serviceBus.outputs.pollQueueName
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    eventGridPrincipalId: eventGrid.outputs.principalId
    deployerPrincipalId: principalId
  }
}

// /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}; a
// placeholder when empty, so the module's scope can be written even though the module is not deployed.
var sentinelWorkspace = split(empty(sentinelWorkspaceId) ? '/subscriptions/${subscription().subscriptionId}/resourceGroups/none/providers/Microsoft.OperationalInsights/workspaces/none' : sentinelWorkspaceId, '/')

module sentinelRbac 'app/sentinel-rbac.bicep' = if (!empty(sentinelWorkspaceId)) {
  name: 'sentinel-rbac'
  scope: resourceGroup(sentinelWorkspace[2], sentinelWorkspace[4])
  params: {
    identityPrincipalId: identity.outputs.principalId
    workspaceName: sentinelWorkspace[8]
  }
}

// azd stores these in .azure/<env>/.env; the hooks and docs/deploy.md use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_FUNCTION_APP_ID string = functionApp.outputs.id
output AZURE_FUNCTION_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_FUNCTION_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output RIPOSTE_INGEST_SECRET_NAME string = ingestSecretName
output RIPOSTE_INGEST_CREDENTIAL_KEY_NAME string = ingestCredentialKeyName
output RIPOSTE_GRAPH_NOTIFICATION_KEY_NAME string = graphNotificationKeyName
output AZURE_STORAGE_ACCOUNT_ID string = storage.outputs.id
output AZURE_EVENTGRID_TOPIC_ID string = eventGrid.outputs.id
output AZURE_EVENTGRID_TOPIC_ENDPOINT string = eventGrid.outputs.endpoint
output AZURE_EVENTGRID_DEADLETTER_CONTAINER string = deadLetterContainerName
output AZURE_SERVICEBUS_NAMESPACE string = serviceBus.outputs.fullyQualifiedNamespace
output AZURE_SERVICEBUS_QUEUE string = serviceBus.outputs.queueName
output AZURE_SERVICEBUS_POLL_QUEUE string = serviceBus.outputs.pollQueueName
output RIPOSTE_TASK_HUB string = taskHubName
output RIPOSTE_AUTH_REDIRECT_URI string = auth.outputs.redirectUri
output RIPOSTE_API_BASE_URL string = 'https://${functionApp.outputs.defaultHostName}/api'
// Add ?code=<function key>&key=<ingestion secret> (infra/scripts/webhook-url.sh prints the whole URL).
output RIPOSTE_ALERT_WEBHOOK_URL string = 'https://${functionApp.outputs.defaultHostName}/api/alerts'
