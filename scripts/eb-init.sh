#!/usr/bin/env bash
# `make eb-init`: register the application with Elastic Beanstalk (region: $AWS_REGION, default
# eu-west-1). The platform is named in full: `-p docker` would write `default_platform: Docker`,
# with which `eb local run` refuses to run. Free: an application alone costs nothing.
source "$(dirname "$0")/eb.sh"
eb init "$APP" --platform "$PLATFORM" --region "$REGION" "$@"
