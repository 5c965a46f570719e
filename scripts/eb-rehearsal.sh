#!/usr/bin/env bash
# REHEARSAL, not a deployment: `make aws-prereqs` (the prerequisites stack, with the AWS CLI),
# `make eb-init`, `make deploy` (eb create with the stack's outputs), `eb status` and `make terminate` run for real, but against a local fake of AWS on loopback in a network namespace
# with no way out. It proves the commands, flags and the source bundle the EB CLI builds and uploads
# (logged by the fake); it proves nothing about AWS (quotas, IAM, the platform, the running service).
# Usage: scripts/eb-rehearsal.sh [WORKDIR]   (WORKDIR gets the project copy and the logs)
# (EB_REHEARSAL_EXTRA: a folder whose files are laid over the copy, e.g. stray files a test expects
# the bundle to leave out)
if [ -z "${CHURN_IN_NETNS:-}" ]; then   # tools first, while the network is there
  bash "$(dirname "$0")/eb-tools.sh" eb moto awscli
  CHURN_IN_NETNS=1 exec unshare -n bash "$0" "$@"
fi
source "$(dirname "$0")/eb.sh"
source "$ROOT/scripts/fake-aws.sh"
export EB_TOOLS
fresh_workdir "${1:-}" "$ROOT/build/eb-rehearsal"
if [ -n "${EB_REHEARSAL_EXTRA:-}" ]; then cp -a "$EB_REHEARSAL_EXTRA/." "$PROJ/"; fi
start_fake_aws "$WORK/fake-aws.log"
# what a user brings: an ACM certificate of the region (validated by DNS: not something a fake can do)
CERTIFICATE_ARN=${EB_REHEARSAL_CERTIFICATE:-arn:aws:acm:eu-west-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0}
trap 'kill $FAKE_AWS_PID 2>/dev/null || true' EXIT
# (output captured, then searched: `eb ... | grep -q` dies of a broken pipe under pipefail)
step() {  # step NAME EXPECTED COMMAND...
  local name=$1 expected=$2; shift 2
  say "rehearsal: $name"
  "$@" </dev/null > "$WORK/$name.out" 2>&1 || { cat "$WORK/$name.out"; echo "rehearsal: $name failed" >&2; exit 1; }
  grep -q -- "$expected" "$WORK/$name.out" || { cat "$WORK/$name.out"; echo "rehearsal: $name: no '$expected'" >&2; exit 1; }
}
step aws-prereqs 'AlarmTopicArn' env ALARM_EMAIL=ops@example.com bash "$PROJ/scripts/aws-prereqs.sh"
step eb-init 'Application churn-serving has been created' bash "$PROJ/scripts/eb-init.sh"
grep -q 'default_platform: Docker running on 64bit Amazon Linux 2023' "$PROJ/.elasticbeanstalk/config.yml"
step deploy 'Successfully launched environment' env EB_CERTIFICATE_ARN="$CERTIFICATE_ARN" bash "$PROJ/scripts/eb-deploy.sh"
step status 'Status: Ready' "$EB_TOOLS/eb/bin/eb" status churn-serving-env
step terminate 'terminateEnvironment completed successfully' bash "$PROJ/scripts/eb-terminate.sh" --force
echo "eb rehearsal against the local fake: OK (logs in $WORK)"
