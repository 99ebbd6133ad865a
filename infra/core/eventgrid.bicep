// Event Grid topic for alert forwarders that publish events (Event Grid schema; CloudEvents inside
// `data` are read too). Publishers authenticate with Entra ID (EventGrid Data Sender), not topic keys.
// The subscription to the function is created by infra/hooks/postdeploy.sh: its endpoint, the
// `ingest_event_grid_alert` function, exists only after the code is deployed.

param name string
param location string
param tags object
param workspaceId string

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned' // writes undeliverable events to the dead-letter container
  }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: topic
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
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

output name string = topic.name
output id string = topic.id
output endpoint string = topic.properties.endpoint
output principalId string = topic.identity.principalId
