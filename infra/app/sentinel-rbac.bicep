// Microsoft Sentinel Responder for the app's identity on one Sentinel workspace: what Sentinel incident
// write-back needs (add_sentinel_comment, update_sentinel_incident; docs/deploy.md "Sentinel write-back").
// Deployed into the workspace's resource group, which may be in another subscription of this tenant. A
// workspace in a customer's tenant is reached through Azure Lighthouse instead (its offer grants the role).

param identityPrincipalId string
param workspaceName string

// Built-in role definition ids (the same in every tenant).
var roles = {
  sentinelResponder: '3e150937-b8fe-4cfb-8069-0eaf05ecd056' // Microsoft Sentinel Responder: comment, status, classify
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource appSentinelResponder 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(workspace.id, identityPrincipalId, roles.sentinelResponder)
  scope: workspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.sentinelResponder)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}
