#!/usr/bin/env bash
# `make deploy`: create the environment (ALB, 2-6 instances: billed while it exists), or deploy
# the working tree to it when it exists already. The bundle is what .ebignore lets through.
# Creating needs the prerequisites stack (`make aws-prereqs`): its outputs become the saved
# configuration scripts/eb_deploy_config.py writes (network, access, secrets, alarm topic), and the
# roles go as flags. EB_CERTIFICATE_ARN (an ACM certificate) gives HTTPS, EB_SCHEME=internal|public
# the load balancer's reach (docs/deploy.md "What make deploy gives").
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
  ensure_awscli
  export AWS_DEFAULT_REGION=$REGION
  STACK=${EB_PREREQS_STACK:-churn-serving-prereqs}
  mkdir -p .elasticbeanstalk/saved_configs
  outputs=.elasticbeanstalk/$STACK-outputs.json
  "$AWS" cloudformation describe-stacks --stack-name "$STACK" --query 'Stacks[0].Outputs' --output json \
    > "$outputs" || { echo "no stack $STACK in $REGION: run 'make aws-prereqs' first (docs/deploy.md)" >&2; exit 1; }
  ids=$("$EB_TOOLS/awscli/bin/python" scripts/eb_deploy_config.py "$outputs" \
    ".elasticbeanstalk/saved_configs/$ENV_NAME.cfg.yml")
  read -r service_role instance_profile <<< "$ids"
  say "creating $ENV_NAME (saved configuration .elasticbeanstalk/saved_configs/$ENV_NAME.cfg.yml)"
  # --elb-type, instance type, service role and instance profile: the EB CLI would otherwise set
  # its own values over .ebextensions. (Given --cfg it adds no health or rolling settings of its
  # own: those, the deployment policy and scaling come from .ebextensions.)
  eb create "$ENV_NAME" --cfg "$ENV_NAME" --elb-type application --instance_type "$INSTANCE_TYPE" \
    --service-role "$service_role" --instance_profile "$instance_profile" "$@"
fi
