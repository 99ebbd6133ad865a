#!/bin/sh
# Fail unless the deployed app refuses a forged X-MS-CLIENT-PRINCIPAL with 401.
# The app trusts that header only because App Service authentication strips any copy a client sends
# (shared/auth.py). This sends a principal holding every app role, and no token, to a read route.
#
#   infra/scripts/check-auth.sh [api-base-url]     default: $RIPOSTE_API_BASE_URL (https://<app>/api)
#
# Run by the postdeploy hook; run it by hand after changing infra/app/auth.bicep.
set -eu

base=${1:-${RIPOSTE_API_BASE_URL:-}}
if [ -z "$base" ]; then
  eval "$(azd env get-values)"
  base=${RIPOSTE_API_BASE_URL:?run azd up first}
fi
attempts=${CHECK_AUTH_ATTEMPTS:-10}  # a fresh deployment may answer 5xx while it starts
pause=${CHECK_AUTH_PAUSE:-15}

# {"auth_typ":"aad","claims":[name "forged-by-riposte-postdeploy-check", roles PLAYBOOKS_READ,
# PLAYBOOKS_MANAGE, SECURITY_MANAGE], ...} in base64, as App Service would send it.
forged='eyJhdXRoX3R5cCI6ImFhZCIsIm5hbWVfdHlwIjoibmFtZSIsInJvbGVfdHlwIjoicm9sZXMiLCJjbGFpbXMiOlt7InR5cCI6Im5hbWUiLCJ2YWwiOiJmb3JnZWQtYnktcmlwb3N0ZS1wb3N0ZGVwbG95LWNoZWNrIn0seyJ0eXAiOiJyb2xlcyIsInZhbCI6IlBMQVlCT09LU19SRUFEIn0seyJ0eXAiOiJyb2xlcyIsInZhbCI6IlBMQVlCT09LU19NQU5BR0UifSx7InR5cCI6InJvbGVzIiwidmFsIjoiU0VDVVJJVFlfTUFOQUdFIn1dfQ=='

attempt=1
while :; do
  status=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 30 \
    -H "X-MS-CLIENT-PRINCIPAL: $forged" -H 'X-MS-CLIENT-PRINCIPAL-IDP: aad' \
    -H 'X-MS-CLIENT-PRINCIPAL-NAME: forged-by-riposte-postdeploy-check' \
    "$base/playbooks") || status=000
  case "$status" in
    401)
      echo "Auth check passed: a forged X-MS-CLIENT-PRINCIPAL gets 401 from $base."
      exit 0 ;;
    000|5??)
      if [ "$attempt" -ge "$attempts" ]; then
        echo "Auth check failed: $base/playbooks answered $status after $attempts attempts." >&2
        exit 1
      fi
      echo "Auth check: $base/playbooks answered $status, trying again (attempt $attempt of $attempts)..."
      attempt=$((attempt + 1))
      sleep "$pause" ;;
    *)
      echo "Auth check FAILED: a forged X-MS-CLIENT-PRINCIPAL got $status from $base/playbooks, not 401." >&2
      echo "Turn App Service authentication on (infra/app/auth.bicep) before anyone uses this app." >&2
      exit 1 ;;
  esac
done
