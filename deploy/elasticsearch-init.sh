#!/bin/bash
# One-shot (docker-compose.yml's elasticsearch-init): Chartvault's role, which reaches its
# index (an alias and the indexes behind it) and index templates alone, and its user.
# Idempotent: PUT replaces the role and sets the password again.
set -euo pipefail
es() {
  curl -fsS -u "elastic:$ELASTIC_PASSWORD" -H 'Content-Type: application/json' \
       -X PUT "http://elasticsearch:9200/_security/$1" --data-binary @-
}
es role/chartvault-app <<JSON
{"cluster": ["monitor", "manage_index_templates"],
 "indices": [{"names": ["$INDEX", "$INDEX-*"], "privileges": ["all"]}]}
JSON
# the password goes in as JSON: hex or base64 from openssl, as the README makes them
es "user/$APP_USER" <<JSON
{"password": "$APP_PASSWORD", "roles": ["chartvault-app"]}
JSON
echo
echo "elasticsearch-init: role and user $APP_USER ready"
