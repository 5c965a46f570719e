#!/usr/bin/env bash
# `make aws-prereqs`: deploy infra/prereqs.yaml (IAM roles, security groups, ElastiCache Redis, the
# secrets, the alarm topic) as one CloudFormation stack, or update it; `make deploy` reads its outputs.
# The Redis node is billed hourly from here on (docs/deploy.md "Costs"); `aws cloudformation
# delete-stack` removes the stack. Settings (environment variables, all optional):
#   AWS_REGION            region (default eu-west-1, as scripts/eb.sh)
#   EB_PREREQS_STACK      stack name (default churn-serving-prereqs)
#   AWS_VPC_ID            VPC (default: the account's default VPC)
#   AWS_SUBNET_IDS        comma-separated subnets, two zones or more (default: the VPC's subnets)
#   EB_ALLOWED_CIDR       the one source range the load balancer admits (default: the VPC's own range)
#   EB_ALLOWED_PREFIX_LIST  a managed prefix list of further ranges (pl-...)
#   ALARM_EMAIL           e-mail subscribed to the alarm topic (AWS mails a confirmation link first)
#   REDIS_ENGINE_VERSION, REDIS_NODE_TYPE, REDIS_NODES, REDIS_SUBNET_GROUP   (the template's defaults)
#   EB_ECR_PULL=true      let the instances pull a prebuilt image from ECR (docs/deploy.md)
source "$(dirname "$0")/eb-tools.sh"
ensure_awscli
export AWS_DEFAULT_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-eu-west-1}}
STACK=${EB_PREREQS_STACK:-churn-serving-prereqs}
aws() { "$AWS" "$@"; }

vpc=${AWS_VPC_ID:-$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)}
[ -n "$vpc" ] && [ "$vpc" != None ] || { echo "no default VPC: set AWS_VPC_ID and AWS_SUBNET_IDS" >&2; exit 1; }
subnets=${AWS_SUBNET_IDS:-$(aws ec2 describe-subnets --filters "Name=vpc-id,Values=$vpc" \
  --query 'Subnets[].SubnetId' --output text | tr '\t' ',')}
cidr=${EB_ALLOWED_CIDR:-$(aws ec2 describe-vpcs --vpc-ids "$vpc" --query 'Vpcs[0].CidrBlock' --output text)}
params=("VpcId=$vpc" "SubnetIds=$subnets" "AllowedCidr=$cidr")
for pair in AllowedPrefixListId=EB_ALLOWED_PREFIX_LIST AlarmEmail=ALARM_EMAIL \
    RedisEngineVersion=REDIS_ENGINE_VERSION RedisNodeType=REDIS_NODE_TYPE RedisNodes=REDIS_NODES \
    CacheSubnetGroupName=REDIS_SUBNET_GROUP EcrPullAccess=EB_ECR_PULL; do
  var=${pair#*=}
  if [ -n "${!var:-}" ]; then params+=("${pair%%=*}=${!var}"); fi
done
say "deploying $STACK (${params[*]})"
aws cloudformation deploy --stack-name "$STACK" --template-file "$ROOT/infra/prereqs.yaml" \
  --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset --parameter-overrides "${params[@]}"
aws cloudformation describe-stacks --stack-name "$STACK" \
  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output text
