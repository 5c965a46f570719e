#!/usr/bin/env bash
# `make terminate`: delete the environment and everything it launched (instances, load balancer);
# the EB CLI asks for the environment's name to confirm. Logs stay in CloudWatch for their retention.
source "$(dirname "$0")/eb.sh"
eb terminate "$ENV_NAME" "$@"
