#!/bin/sh
# azd postprovision: make sure the ingestion secret exists in Key Vault, so the app's Key Vault reference
# (RIPOSTE_INGEST_SECRETS) resolves from its first start. An existing secret is never overwritten:
# rotate it with `az keyvault secret set` (docs/deploy.md).
set -eu

: "${AZURE_KEY_VAULT_NAME:?missing: run azd provision}"
: "${RIPOSTE_INGEST_SECRET_NAME:?missing: run azd provision}"

exists() {
  az keyvault secret show --vault-name "$AZURE_KEY_VAULT_NAME" --name "$RIPOSTE_INGEST_SECRET_NAME" \
    --query id -o tsv --only-show-errors >/dev/null 2>&1
}

if exists; then
  echo "Ingestion secret $RIPOSTE_INGEST_SECRET_NAME already in $AZURE_KEY_VAULT_NAME: left as it is."
  exit 0
fi

# The value goes through a private file, never the command line (visible to other processes).
umask 077
secret_file=$(mktemp)
trap 'rm -f "$secret_file"' EXIT
openssl rand -hex 32 | tr -d '\n' >"$secret_file"

# The deployer's Key Vault Secrets Officer role can take a few minutes to reach the vault after provisioning.
attempt=1
while :; do
  if exists; then
    break
  fi
  if az keyvault secret set --vault-name "$AZURE_KEY_VAULT_NAME" --name "$RIPOSTE_INGEST_SECRET_NAME" \
      --file "$secret_file" --encoding utf-8 --content-type "comma-separated ingestion secrets" \
      --only-show-errors -o none; then
    echo "Created ingestion secret $RIPOSTE_INGEST_SECRET_NAME in $AZURE_KEY_VAULT_NAME."
    break
  fi
  if [ "$attempt" -ge 10 ]; then
    echo "Could not write $RIPOSTE_INGEST_SECRET_NAME to $AZURE_KEY_VAULT_NAME. Do you have the Key Vault" \
      "Secrets Officer role on it (AZURE_PRINCIPAL_ID)? See docs/deploy.md." >&2
    exit 1
  fi
  echo "Waiting for the Key Vault role assignment to take effect (attempt $attempt of 10)..."
  attempt=$((attempt + 1))
  sleep 30
done
