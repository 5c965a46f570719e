# Sourced by the eb-* scripts: the pinned EB CLI (scripts/eb-tools.sh) and the project's defaults.
source "$(dirname "${BASH_SOURCE[0]}")/eb-tools.sh"
ensure_eb
APP=churn-serving
ENV_NAME=${EB_ENV:-churn-serving-env}
PLATFORM="Docker running on 64bit Amazon Linux 2023"
REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-eu-west-1}}
# Options the EB CLI sets itself at creation, whatever .ebextensions says, so they go as flags
# (with the roles of the prerequisites stack: scripts/eb-deploy.sh):
INSTANCE_TYPE=${EB_INSTANCE_TYPE:-t3.small}
eb() { "$EB" "$@"; }
