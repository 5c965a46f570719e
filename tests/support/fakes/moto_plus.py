"""A local stand-in for the AWS APIs the EB CLI calls, for the offline rehearsals (tests/system/test_eb_cli.py).

moto's server, plus: every action logged to stderr; an unimplemented action answered at once with
a 400 InvalidAction (moto's 500 makes the EB CLI retry for about a minute); and the Elastic
Beanstalk calls moto lacks (eb_stubs.py), and the CloudFormation resource types of infra/prereqs.yaml
it lacks (cfn_stand_ins.py). Runs in .tools-eb/moto/ (scripts/eb-tools.sh), on
loopback inside a network namespace. It imitates the API's shape, not AWS's behaviour.
Usage: python tests/support/fakes/moto_plus.py -H 127.0.0.1 -p PORT
"""

import sys
from pathlib import Path

from moto.core.responses import BaseResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import eb_stubs
import fakes.cfn_stand_ins  # noqa: F401 - registers the stand-ins (a package module: moto reads its name)

_original_call_action = BaseResponse.call_action
INVALID_ACTION = (
    "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>moto does not implement {}"
    "</Message></Error><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


def call_action(self):  # type: ignore[no-untyped-def]
    action = self._get_action()
    eb_stubs.log(f"{self.service_name}:{action}")
    try:
        return _original_call_action(self)
    except NotImplementedError:
        eb_stubs.log(f"NOT IMPLEMENTED {self.service_name}:{action}")
        return 400, {"Content-Type": "text/xml"}, INVALID_ACTION.format(action)


BaseResponse.call_action = call_action
eb_stubs.install()

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
