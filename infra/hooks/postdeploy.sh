#!/bin/sh
# azd postdeploy: subscribe the Event Grid topic to the ingest_event_grid_alert function, then check
# that the deployed app refuses a forged client principal (infra/scripts/check-auth.sh).
# This cannot be in Bicep: Event Grid validates the endpoint when the subscription is created, and the
# function exists only once the code is deployed and indexed. Re-running it updates the same subscription.
set -eu

: "${AZURE_EVENTGRID_TOPIC_ID:?missing: run azd provision}"
: "${AZURE_FUNCTION_APP_ID:?missing: run azd provision}"
: "${AZURE_STORAGE_ACCOUNT_ID:?missing: run azd provision}"
: "${AZURE_EVENTGRID_DEADLETTER_CONTAINER:?missing: run azd provision}"
: "${RIPOSTE_API_BASE_URL:?missing: run azd provision}"

function_id="$AZURE_FUNCTION_APP_ID/functions/ingest_event_grid_alert"
dead_letter="$AZURE_STORAGE_ACCOUNT_ID/blobServices/default/containers/$AZURE_EVENTGRID_DEADLETTER_CONTAINER"

attempt=1
# Undeliverable events go to the dead-letter container, written with the topic's own identity.
until az eventgrid event-subscription create \
    --name riposte-alerts \
    --source-resource-id "$AZURE_EVENTGRID_TOPIC_ID" \
    --endpoint-type azurefunction \
    --endpoint "$function_id" \
    --max-delivery-attempts 10 \
    --event-ttl 1440 \
    --deadletter-identity systemassigned \
    --deadletter-identity-endpoint "$dead_letter" \
    --only-show-errors -o none; do
  if [ "$attempt" -ge 10 ]; then
    echo "Could not subscribe the Event Grid topic to $function_id: is the function deployed?" >&2
    exit 1
  fi
  echo "Waiting for ingest_event_grid_alert to be indexed (attempt $attempt of 10)..."
  attempt=$((attempt + 1))
  sleep 30
done
echo "Event Grid topic $AZURE_EVENTGRID_TOPIC_ENDPOINT delivers to ingest_event_grid_alert."
sh infra/scripts/check-auth.sh "$RIPOSTE_API_BASE_URL"
echo "Action group webhook: run infra/scripts/webhook-url.sh (docs/deploy.md)."
