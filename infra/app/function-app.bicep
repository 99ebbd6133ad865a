// Riposte's function app on Flex Consumption (Python), its app settings and its hardening.
// Every connection is identity-based: no account key, SAS or connection string is in the settings.

param name string
param planName string
param location string
param tags object
@description('azd finds the app to deploy to by this tag (azure.yaml `services.api`).')
param serviceName string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param workspaceId string
param serviceBusNamespace string
param keyVaultUri string
param ingestSecretName string
param haloPsaUrl string
param haloPsaTenant string
param connectWiseUrl string
param autotaskUrl string
@description('Hosts http_request steps may call, comma-separated (RIPOSTE_HTTP_REQUEST_HOSTS); empty: none.')
param httpRequestHosts string
@description('Hosts outbound calls may reach at a private or loopback address (RIPOSTE_OUTBOUND_PRIVATE_HOSTS); empty: none.')
param outboundPrivateHosts string
@description('Key Vault secret names (lower-case letters, digits, -) that playbooks use by name (shared/secrets.py).')
param secretNames array
param taskHubName string
param graphBaseUrl string
param exchangeBaseUrl string
param defenderBaseUrl string
param graphClientId string
param notifyTenantId string
param notifySender string
@description('Where people reach Riposte (links in notifications); empty: the app\'s own HTTPS address.')
param publicBaseUrl string
@description('Where Graph sends change notifications; empty: the app\'s own HTTPS address; `none`: off.')
param graphNotificationUrl string
param maximumInstanceCount int = 40 // caps concurrent Graph calls into customer tenants as well as cost
param instanceMemoryMB int = 2048

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    // Key Vault references resolve with the user-assigned identity (there is no system-assigned one).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
        // Durable Functions on Flex Consumption: one instance always polls the task hub's queues, so an
        // activity result, timer or approval after an idle period is not held up by a cold start.
        alwaysReady: [
          {
            name: 'durable'
            instanceCount: 1
          }
        ]
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// The names are the ones the code reads (shared/settings.py, shared/graph/settings.py,
// shared/ingest_auth.py) and the Functions host's identity-based connections; tests/infra checks both.
var appSettings = {
  // Functions host storage (Durable Functions' Azure Storage backend, keys, timers) through the identity.
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  // The `ServiceBus` connection (connection="ServiceBus" on a trigger) through the identity.
  ServiceBus__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBus__credential: 'managedidentity'
  ServiceBus__clientId: identityClientId
  // Telemetry with Entra ID: the resource has local auth off.
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  RIPOSTE_ENVIRONMENT: 'production'
  RIPOSTE_TASK_HUB: taskHubName // host.json: durableTask.hubName = %RIPOSTE_TASK_HUB%
  RIPOSTE_TABLE_PREFIX: 'riposte'
  RIPOSTE_NOTIFY_TENANT_ID: notifyTenantId
  RIPOSTE_NOTIFY_SENDER: notifySender
  // A run without a live Durable instance this long is restarted (if it never acted) or recorded lost.
  RIPOSTE_RECONCILE_GRACE_SECONDS: '300'
  // The first re-check of a Defender machine action a step follows (waitForCompletion); later ones double from it.
  RIPOSTE_DEFENDER_CHECK_SECONDS: '15'
  RIPOSTE_PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${site.properties.defaultHostName}' : publicBaseUrl
  // Graph change notifications for alerts_v2 (docs/alert-sources.md, "Notifications"): on by default.
  RIPOSTE_GRAPH_NOTIFICATION_URL: empty(graphNotificationUrl) ? 'https://${site.properties.defaultHostName}' : graphNotificationUrl
  // Unversioned reference: a new secret version is picked up without a redeploy (within 24 h, or on restart).
  RIPOSTE_INGEST_SECRETS: '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${ingestSecretName}/)'
  // Graph in customer tenants: the multi-tenant app registration, with this identity as its federated credential.
  GRAPH_BASE_URL: graphBaseUrl
  GRAPH_AUTH_MODE: 'federated_managed_identity'
  GRAPH_CLIENT_ID: graphClientId
  GRAPH_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  // Exchange Online's admin API, for primitives that act on mailboxes (same app registration).
  EXCHANGE_BASE_URL: exchangeBaseUrl
  // Microsoft Defender for Endpoint's API, for machine actions (same app registration, WindowsDefenderATP permissions).
  DEFENDER_BASE_URL: defenderBaseUrl
  // Azure Resource Manager (Sentinel incident write-back) as the app's own identity, not the app registration:
  // it needs Microsoft Sentinel Responder on each workspace (docs/deploy.md, "Sentinel write-back").
  ARM_BASE_URL: environment().resourceManager
  ARM_AUTH_MODE: 'managed_identity'
  ARM_MANAGED_IDENTITY_CLIENT_ID: identityClientId
  // PSA ticketing base URLs (empty: that PSA is not configured); credentials are playbook secrets below.
  RIPOSTE_HALOPSA_URL: haloPsaUrl
  RIPOSTE_HALOPSA_TENANT: haloPsaTenant
  RIPOSTE_CONNECTWISE_URL: connectWiseUrl
  RIPOSTE_AUTOTASK_URL: autotaskUrl
  // Enrichment: the hosts http_request steps may call (docs/enrichment.md); their API keys are playbook secrets.
  RIPOSTE_HTTP_REQUEST_HOSTS: httpRequestHosts
  // Outbound calls reach public addresses only, unless the host is listed here (shared/outbound_guard.py).
  RIPOSTE_OUTBOUND_PRIVATE_HOSTS: outboundPrivateHosts
  // App Service authentication: the identity is the sign-in app registration's credential (no client
  // secret), and only tokens from this tenant are accepted.
  OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID: identityClientId
  WEBSITE_AUTH_AAD_ALLOWED_TENANTS: tenant().tenantId
  // The console answers the root URL (host.json routePrefix is empty): no Functions home page in its place.
  AzureWebJobsDisableHomepage: 'true'
}

// Playbook secrets by name: `halo-client-secret` is read from RIPOSTE_SECRET_HALO_CLIENT_SECRET
// (shared/secrets.py), a Key Vault reference. Settings added by hand would be dropped by the next provision.
var secretReferences = toObject(
  secretNames,
  secret => 'RIPOSTE_SECRET_${toUpper(replace(secret, '-', '_'))}',
  secret => '@Microsoft.KeyVault(SecretUri=${keyVaultUri}secrets/${secret}/)'
)

resource settings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: union(appSettings, secretReferences)
}

// No FTP and no basic-auth deployment: azd deploys with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: site
  name: 'scm'
  properties: {
    allow: false
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: site
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'FunctionAppLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output name string = site.name
output id string = site.id
output defaultHostName string = site.properties.defaultHostName
