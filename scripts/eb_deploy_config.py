"""The saved configuration `make deploy` gives `eb create --cfg`: the environment's network, access and secrets.

Usage: python scripts/eb_deploy_config.py OUTPUTS_JSON SAVED_CONFIG
  OUTPUTS_JSON  the prerequisites stack's outputs (`aws cloudformation describe-stacks --query
                Stacks[0].Outputs`, infra/prereqs.yaml)
  SAVED_CONFIG  where to write it (.elasticbeanstalk/saved_configs/NAME.cfg.yml, which the EB CLI uploads)
Prints the service role and the instance profile (the EB CLI sets those itself, so they go as flags).
Exits 1, writing nothing, when the result fails scripts/check_ebextensions.py (an internet-facing load
balancer without HTTPS, for one).

Settings, from the environment:
  EB_CERTIFICATE_ARN  an ACM certificate of the region: HTTPS on 443 and HTTP redirected to it
  EB_SCHEME           public (internet-facing) or internal (VPC-only); default: public with a
                      certificate, internal without one. Public without a certificate is refused.

Why a saved configuration and not .ebextensions: these values differ between environments and
accounts, and options set at creation through the API outrank .ebextensions and survive every later
`eb deploy` (whose bundle carries only .ebextensions); a value removed from .ebextensions would be
reset on the next deploy.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_ebextensions as check

ROOT = Path(__file__).resolve().parent.parent
TLS_POLICY = check.TLS_POLICIES[0]


def option_settings(outputs: dict[str, str], certificate: str, scheme: str) -> dict[str, dict[str, str]]:
    """namespace -> option -> value, from the stack's outputs and the two settings."""
    settings: dict[str, dict[str, str]] = {
        "aws:ec2:vpc": {
            "VPCId": outputs["VpcId"],
            "Subnets": outputs["SubnetIds"],
            "ELBSubnets": outputs["SubnetIds"],
            "ELBScheme": scheme,
            # instances in the default VPC's public subnets need an address to reach the platform's
            # repositories and CloudWatch; the security groups admit only the load balancer
            "AssociatePublicIpAddress": "true",
        },
        # besides the group Elastic Beanstalk makes for the instances: this one admits them to Redis
        "aws:autoscaling:launchconfiguration": {"SecurityGroups": outputs["InstanceSecurityGroupId"]},
        # the load balancer's only group: the allowed sources (AllowedCidr) on 80 and 443
        "aws:elbv2:loadbalancer": {
            "SecurityGroups": outputs["LoadBalancerSecurityGroupId"],
            "ManagedSecurityGroup": outputs["LoadBalancerSecurityGroupId"],
        },
        "aws:elasticbeanstalk:application:environment": {"ALARM_TOPIC_ARN": outputs["AlarmTopicArn"]},
        "aws:elasticbeanstalk:application:environmentsecrets": {
            "REDIS_URL": outputs["RedisUrlSecretArn"],
            "CHURN_API_KEYS": outputs["ApiKeysSecretArn"],
        },
        "aws:elasticbeanstalk:sns:topics": {"Notification Topic ARN": outputs["AlarmTopicArn"]},
    }
    if certificate:
        settings["aws:elbv2:listener:443"] = {
            "ListenerEnabled": "true",
            "Protocol": "HTTPS",
            "SSLCertificateArns": certificate,
            "SSLPolicy": TLS_POLICY,
            "DefaultProcess": "default",
        }
        settings[check.CUSTOM] = {"HttpsRedirectHosts": check.HTTPS_REDIRECT_ON}
    return settings


def saved_config(settings: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {
        "EnvironmentConfigurationMetadata": {"Description": "churn-serving: network, access, secrets (make deploy)"},
        "AWSConfigurationTemplateVersion": "1.1.0.0",
        "OptionSettings": settings,
    }


def main(argv: list[str]) -> int:
    outputs = {o["OutputKey"]: o["OutputValue"] for o in json.loads(Path(argv[1]).read_text())}
    certificate = os.environ.get("EB_CERTIFICATE_ARN", "")
    scheme = os.environ.get("EB_SCHEME") or ("public" if certificate else "internal")
    target = Path(argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    draft = target.with_suffix(".draft")
    draft.write_text(yaml.safe_dump(saved_config(option_settings(outputs, certificate, scheme)), sort_keys=False))
    errors = check.check(ROOT, draft)
    if errors:
        draft.unlink()
        for e in errors:
            print("ERROR", e, file=sys.stderr)
        return 1
    draft.replace(target)
    print(outputs["ServiceRoleName"], outputs["InstanceProfileName"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
