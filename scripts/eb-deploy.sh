#!/usr/bin/env bash
# `make deploy`: create the environment (ALB, 2-6 instances: billed while it exists), or deploy
# the working tree to it when it exists already. The bundle is what .ebignore lets through.
source "$(dirname "$0")/eb.sh"
if eb status "$ENV_NAME" </dev/null >/dev/null 2>&1; then
  # The application version's label starts with the model version it serves, then the commit and the
  # time (labels are unique): `eb appversion` shows each version's model, and `eb deploy --version LABEL`
  # puts an earlier one back (docs/model.md, "Rollback").
  MODEL_VERSION=$("$PYTHON" -c 'import json; print(json.load(open("churn-model.json"))["model_version"])')
  LABEL=$MODEL_VERSION.$(git describe --always --dirty 2>/dev/null || echo no-git).$(date -u +%Y%m%dT%H%M%SZ)
  say "deploying to $ENV_NAME as $LABEL"
  eb deploy "$ENV_NAME" --label "$LABEL" "$@"
else
  say "creating $ENV_NAME"
  # --elb-type, instance type, service role and instance profile: the EB CLI would otherwise set
  # its own values over .ebextensions. It also sets enhanced health and a 30 % rolling batch size
  # itself; the environment's own deployment policy and scaling come from .ebextensions.
  eb create "$ENV_NAME" --elb-type application --instance_type "$INSTANCE_TYPE" \
    --service-role "$SERVICE_ROLE" --instance_profile "$INSTANCE_PROFILE" "$@"
fi
