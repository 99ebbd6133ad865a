// App Service authentication (Entra ID) in front of Riposte.
// It signs technicians in and validates bearer tokens, then hands the caller to the app in
// X-MS-CLIENT-PRINCIPAL with the app roles PLAYBOOKS_READ, PLAYBOOKS_MANAGE and SECURITY_MANAGE
// (defined on the sign-in app registration, docs/deploy.md). Unauthenticated requests are let through
// (AllowAnonymous) because the app decides per route (shared/auth.py, shared/ingest_auth.py):
// management routes answer 401/403 without a principal or role, while alert senders (Azure Monitor
// action groups, Logic Apps forwarding Defender alerts) cannot sign in to Entra ID and prove themselves
// with a function key plus an ingestion secret instead. GET /api/health stays open for probes.

param functionAppName string
@description('Client id of the single-tenant sign-in app registration (not the Graph one).')
param apiClientId string

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
      routes: {
        apiPrefix: '/.auth'
      }
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          // The app's managed identity is the registration's federated credential: no secret to rotate.
          clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          // v2 tokens carry the client id as audience, v1 tokens the Application ID URI.
          allowedAudiences: [
            apiClientId
            'api://${apiClientId}'
          ]
        }
      }
    }
    login: {
      // Flex Consumption has no file share for a token store; the app needs the principal, not tokens.
      tokenStore: {
        enabled: false
      }
      preserveUrlFragmentsForLogins: false
    }
  }
}

output loginUrl string = 'https://${site.properties.defaultHostName}/.auth/login/aad'
output redirectUri string = 'https://${site.properties.defaultHostName}/.auth/login/aad/callback'
