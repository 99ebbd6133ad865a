#!/bin/sh
# Print the full URL an alert sender posts to: the function key (checked by the Functions host) and an
# ingestion secret (checked by Riposte) in the query string, for senders that only take a URL
# (Azure Monitor action groups). Each sender gets its own named function key, created on first use.
#
#   infra/scripts/webhook-url.sh [key-name] [function]
#     key-name  default azure-monitor (one per sender, so one can be revoked alone)
#     function  ingest_alerts (POST /api/alerts) or ingest_tenant_alerts (POST /api/tenants/{id}/alerts)
#
# Reads the azd environment (run from the repository root after azd up). Treat the output as a secret.
set -eu

key_name=${1:-azure-monitor}
function_name=${2:-ingest_alerts}

if [ -z "${AZURE_RESOURCE_GROUP:-}" ]; then
  eval "$(azd env get-values)"
fi

: "${AZURE_RESOURCE_GROUP:?run azd up first}"
: "${AZURE_FUNCTION_APP_NAME:?run azd up first}"

code=$(az functionapp function keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
  --function-name "$function_name" --query "\"$key_name\"" -o tsv --only-show-errors)
if [ -z "$code" ]; then
  code=$(az functionapp function keys set -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --function-name "$function_name" --key-name "$key_name" --query value -o tsv --only-show-errors)
fi

# RIPOSTE_INGEST_SECRETS may hold several comma-separated secrets (rotation): use the first.
secret=$(az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name "$RIPOSTE_INGEST_SECRET_NAME" \
  --query value -o tsv --only-show-errors | cut -d, -f1)

case "$function_name" in
  ingest_alerts) path="alerts" ;;
  ingest_tenant_alerts) path="tenants/{customerTenantId}/alerts" ;;
  *) echo "unknown function $function_name" >&2; exit 2 ;;
esac

echo "${RIPOSTE_API_BASE_URL}/${path}?code=${code}&key=${secret}"
