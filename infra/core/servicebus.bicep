// Service Bus namespace, the `alerts` queue (a durable buffer for alert senders that publish to a queue)
// and the `polls` queue (the pollers' fan-out: one message per tenant with due sources, sent by the app's
// timer, taken by its queue trigger on whichever instances Flex Consumption scales out).
// Local (SAS) auth is off: senders and Riposte use Entra ID (ServiceBus__* identity settings).

param name string
param location string
param tags object
param queueName string
param pollQueueName string
param workspaceId string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard' // duplicate detection needs Standard
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

resource alertsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: queueName
  properties: {
    lockDuration: 'PT1M'
    maxDeliveryCount: 10
    defaultMessageTimeToLive: 'P14D'
    deadLetteringOnMessageExpiration: true
    // A sender retrying the same alert within an hour is delivered once.
    requiresDuplicateDetection: true
    duplicateDetectionHistoryTimeWindow: 'PT1H'
  }
}

// A poll message is a wake-up: the poll re-reads the tenant's state and claims windows under ETags, so a
// redelivery or a duplicate polls nothing twice (docs/alert-sources.md, "Pollers").
resource pollsQueue 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = {
  parent: namespace
  name: pollQueueName
  properties: {
    // A tenant's poll takes seconds; one slower than the lock is redelivered and finds its windows claimed.
    lockDuration: 'PT1M'
    // A failure here is storage or a bug (Graph failures are recorded on the source, not raised): a few
    // tries, then the dead-letter subqueue shows it. The tenant is due again anyway after the queued hold.
    maxDeliveryCount: 5
    // A message older than this is stale: the timer has sent a fresh one for any tenant still due, so an
    // app stopped for hours does not come back to a backlog of old wake-ups. Dropped, not dead-lettered.
    defaultMessageTimeToLive: 'PT10M'
    deadLetteringOnMessageExpiration: false
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: namespace
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

output name string = namespace.name
output fullyQualifiedNamespace string = '${namespace.name}.servicebus.windows.net'
output queueName string = alertsQueue.name
output pollQueueName string = pollsQueue.name
