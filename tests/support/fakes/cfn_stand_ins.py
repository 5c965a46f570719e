"""CloudFormation resource types of infra/prereqs.yaml that moto's CloudFormation lacks, as stand-ins.

Without them moto skips these resources and drops every output that refers to one, so the rehearsal
could not pass the stack's outputs on to `eb create`. A secret becomes a real moto secret (so
`aws secretsmanager get-secret-value` works, with `{{resolve:secretsmanager:...}}` references in it
resolved as CloudFormation would); a Redis replication group is only a name and an endpoint nothing
listens on; a subnet group, topic policy or subscription only a name; and the outputs of a stack made by a
change set (`aws cloudformation deploy`) are computed, which moto forgets. NOT AWS semantics: nothing is
validated and no Redis exists. Imported by moto_plus.py before the server starts.
"""

import json
import re
import secrets
import string
from typing import Any

from moto.cloudformation.models import CloudFormationBackend
from moto.core.common_models import CloudFormationModel
from moto.secretsmanager.models import secretsmanager_backends

RESOLVE = re.compile(r"\{\{resolve:secretsmanager:([^}:]+(?::[^}:]+)*?)\}\}")


class StandIn:
    """A resource that is its name (Ref) and nothing else. (moto finds the types among the direct
    subclasses of CloudFormationModel, so each one names it as a base after this.)"""

    def __init__(self, name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        self.name, self.properties, self.account_id, self.region = name, properties, account_id, region

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[no-untyped-def]
        cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
    ):
        return cls(resource_name, cloudformation_json.get("Properties", {}), account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[no-untyped-def]
        cls, resource_name, cloudformation_json, account_id, region_name
    ):
        return None

    @property
    def physical_resource_id(self) -> str:
        return self.name

    def is_created(self) -> bool:
        return True


class SubnetGroup(StandIn, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::SubnetGroup"


class TopicPolicy(StandIn, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::TopicPolicy"


class Subscription(StandIn, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"


class ReplicationGroup(StandIn, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ElastiCache::ReplicationGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("PrimaryEndPoint.Address", "PrimaryEndPoint.Port")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "PrimaryEndPoint.Address":
            return f"master.{self.name.lower()}.abc123.{self.region}.cache.amazonaws.com"
        return str(self.properties.get("Port", 6379))


class Secret(StandIn, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    def __init__(self, name: str, properties: dict[str, Any], account_id: str, region: str) -> None:
        super().__init__(name, properties, account_id, region)
        backend = secretsmanager_backends[account_id][region]
        value = properties.get("SecretString")
        if value is None:
            length = int(properties.get("GenerateSecretString", {}).get("PasswordLength", 32))
            value = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))
        value = RESOLVE.sub(lambda m: backend.get_secret_value(m.group(1), None, None)["SecretString"], value)
        created = backend.create_secret(
            name=name,
            secret_string=value,
            secret_binary=None,
            description=properties.get("Description"),
            tags=None,
            kms_key_id=None,
            client_request_token=None,
            replica_regions=[],
            force_overwrite=False,
        )
        self.arn = json.loads(created)["ARN"]  # moto returns the API's JSON

    @property
    def physical_resource_id(self) -> str:
        return self.arn


# moto keeps the outputs a stack had before a change set ran (none, for a new stack): `aws
# cloudformation deploy` works with change sets, so recompute them from the executed template.
_execute_change_set = CloudFormationBackend.execute_change_set


def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
    _execute_change_set(self, change_set_name, stack_name)
    for stack in self.stacks.values():
        if stack_name is None or stack_name in (stack.name, stack.stack_id):
            stack.template_dict = stack.parse_template(stack.template)
            stack.output_map = stack._create_output_map()


CloudFormationBackend.execute_change_set = execute_change_set  # type: ignore[method-assign]
