#!/bin/sh
# One-shot (docker-compose.yml's minio-init): the bucket with Object Lock, a policy that
# reaches that bucket alone, and Chartvault's own user holding only that policy.
# Idempotent: a second run changes nothing; any failure stops the application's start.
set -eu
mc alias set root http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
# an existing bucket is kept as it is: Chartvault checks its Object Lock at start and
# refuses one without it
mc mb --ignore-existing --with-lock "root/$BUCKET"
mc admin policy create root chartvault-app /init/minio-policy.json
mc admin user add root "$APP_USER" "$APP_PASSWORD"
mc admin policy attach root chartvault-app --user "$APP_USER" >/dev/null 2>&1 || true
mc admin user info root "$APP_USER" | grep -q "chartvault-app" || {
  echo "minio-init: the policy chartvault-app is not attached to $APP_USER" >&2
  exit 1
}
echo "minio-init: bucket $BUCKET (Object Lock) and user $APP_USER ready"
