#!/bin/sh
# azd postprovision: make sure Riposte's own secrets exist in Key Vault, so the app's Key Vault references
# resolve from its first start:
# - the multi-tenant ingestion secret (RIPOSTE_INGEST_SECRETS), 32 random bytes as hex;
# - the key that derives tenants' ingestion credentials (RIPOSTE_SECRET_INGEST_CREDENTIAL_KEY), 32 random
#   bytes as base64 (shared/ingest_credentials.py);
# - the key that derives tenants' Graph subscription clientStates (RIPOSTE_SECRET_GRAPH_NOTIFICATION_KEY),
#   32 random bytes as base64 (shared/notifications/client_state.py).
# An existing secret is never overwritten: rotate with `az keyvault secret set` (docs/deploy.md).
set -eu

: "${AZURE_KEY_VAULT_NAME:?missing: run azd provision}"
: "${RIPOSTE_INGEST_SECRET_NAME:?missing: run azd provision}"
: "${RIPOSTE_INGEST_CREDENTIAL_KEY_NAME:?missing: run azd provision}"
: "${RIPOSTE_GRAPH_NOTIFICATION_KEY_NAME:?missing: run azd provision}"

exists() {
  az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name "$1" \
    --query id -o tsv --only-show-errors >/dev/null 2>&1
}

# ensure_secret <name> <content type> <openssl rand format: -hex or -base64>
ensure_secret() {
  name=$1
  if exists "$name"; then
    echo "Secret $name already in $AZURE_KEY_VAULT_NAME: left as it is."
    return 0
  fi

  # The value goes through a private file, never the command line (visible to other processes).
  umask 077
  secret_file=$(mktemp)
  trap 'rm -f "$secret_file"' EXIT
  openssl rand "$3" 32 | tr -d '\n' >"$secret_file"

  # The deployer's Key Vault Secrets Officer role can take a few minutes to reach the vault after provisioning.
  attempt=1
  while :; do
    if exists "$name"; then
      break
    fi
    if az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$name" \
        --file "$secret_file" --encoding utf-8 --content-type "$2" \
        --only-show-errors -o none; then
      echo "Created secret $name in $AZURE_KEY_VAULT_NAME."
      break
    fi
    if [ "$attempt" -ge 10 ]; then
      echo "Could not write $name to $AZURE_KEY_VAULT_NAME. Do you have the Key Vault" \
        "Secrets Officer role on it (AZURE_PRINCIPAL_ID)? See docs/deploy.md." >&2
      exit 1
    fi
    echo "Waiting for the Key Vault role assignment to take effect (attempt $attempt of 10)..."
    attempt=$((attempt + 1))
    sleep 30
  done
  rm -f "$secret_file"
}

ensure_secret "$RIPOSTE_INGEST_SECRET_NAME" "comma-separated ingestion secrets" -hex
ensure_secret "$RIPOSTE_INGEST_CREDENTIAL_KEY_NAME" "base64 key deriving ingestion credentials" -base64
ensure_secret "$RIPOSTE_GRAPH_NOTIFICATION_KEY_NAME" "base64 key deriving Graph subscription clientStates" -base64
