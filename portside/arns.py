"""The one owner of ECS ARNs and ids (long ARN format).

`arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`, `task/CLUSTER/ID`,
`container-instance/CLUSTER/ID`, `container/CLUSTER/TASK_ID/ID`,
`task-definition/FAMILY:REVISION`, `service/CLUSTER/NAME`,
`service-deployment/CLUSTER/SERVICE/ID`, `service-revision/CLUSTER/SERVICE/ID`,
`task-set/CLUSTER/SERVICE/ID`, `daemon/CLUSTER/NAME`, `daemon-task-definition/FAMILY:REVISION`,
`daemon-deployment/CLUSTER/DAEMON/ID`, `daemon-revision/CLUSTER/DAEMON/ID`.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

_random = random.Random()  # seeded from os.urandom; ids need to be unique, not secret


def new_id() -> str:
    """A task, container or container-instance id: 32 hex digits, as ECS
    issues them.  The first 12 are the time in milliseconds, so a new task's
    ARN lands at the end of the ARN index rather than on a random page of it
    (one page written per commit instead of one per task); the other 80 bits
    are random."""
    return f"{time.time_ns() // 1_000_000:012x}{_random.getrandbits(80):020x}"


@dataclass(frozen=True)
class ParsedArn:
    region: str
    account: str
    kind: str  # cluster, task, container-instance, container, task-definition, service
    parts: tuple[str, ...]


def parse(arn: str) -> ParsedArn | None:
    """Split an ECS ARN; None when it is not one."""
    pieces = arn.split(":", 5)
    if len(pieces) != 6 or pieces[0] != "arn" or pieces[2] != "ecs":
        return None
    kind, _, rest = pieces[5].partition("/")
    if not kind or not rest:
        return None
    return ParsedArn(pieces[3], pieces[4], kind, tuple(rest.split("/")))


@dataclass(frozen=True)
class Arns:
    region: str
    account: str

    def _arn(self, resource: str) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:{resource}"

    def cluster(self, name: str) -> str:
        return self._arn(f"cluster/{name}")

    def task(self, cluster: str, task_id: str) -> str:
        return self._arn(f"task/{cluster}/{task_id}")

    def container_instance(self, cluster: str, instance_id: str) -> str:
        return self._arn(f"container-instance/{cluster}/{instance_id}")

    def container(self, cluster: str, task_id: str, container_id: str) -> str:
        return self._arn(f"container/{cluster}/{task_id}/{container_id}")

    def task_definition(self, family: str, revision: int) -> str:
        return self._arn(f"task-definition/{family}:{revision}")

    def service(self, cluster: str, name: str) -> str:
        return self._arn(f"service/{cluster}/{name}")

    def service_deployment(self, cluster: str, service: str, deployment_id: str) -> str:
        return self._arn(f"service-deployment/{cluster}/{service}/{deployment_id}")

    def service_revision(self, cluster: str, service: str, revision_id: str) -> str:
        return self._arn(f"service-revision/{cluster}/{service}/{revision_id}")

    def task_set(self, cluster: str, service: str, task_set_id: str) -> str:
        return self._arn(f"task-set/{cluster}/{service}/{task_set_id}")

    def daemon(self, cluster: str, name: str) -> str:
        return self._arn(f"daemon/{cluster}/{name}")

    def daemon_task_definition(self, family: str, revision: int) -> str:
        return self._arn(f"daemon-task-definition/{family}:{revision}")

    def daemon_deployment(self, cluster: str, daemon: str, deployment_id: str) -> str:
        return self._arn(f"daemon-deployment/{cluster}/{daemon}/{deployment_id}")

    def daemon_revision(self, cluster: str, daemon: str, revision_id: str) -> str:
        return self._arn(f"daemon-revision/{cluster}/{daemon}/{revision_id}")

    # -- the other service families served on the same port ---------------------

    def log_group(self, name: str) -> str:
        """A log group's ARN as `logGroupArn` and TagResource spell it (no `:*`)."""
        return f"arn:aws:logs:{self.region}:{self.account}:log-group:{name}"

    def log_stream(self, group: str, stream: str) -> str:
        return f"{self.log_group(group)}:log-stream:{stream}"

    def log_group_name(self, identifier: str) -> str | None:
        """The log group a name or ARN (with or without `:*`) names; None for an
        ARN of another region, account or resource."""
        if not identifier.startswith("arn:"):
            return identifier
        head = f"arn:aws:logs:{self.region}:{self.account}:log-group:"
        if not identifier.startswith(head):
            return None
        name = identifier[len(head):]
        return name[:-2] if name.endswith(":*") else name

    def secret(self, name: str, suffix: str) -> str:
        """A secret's ARN: its name, a dash and six random characters, as AWS makes them."""
        return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:{name}-{suffix}"

    def secret_head(self) -> str:
        return f"arn:aws:secretsmanager:{self.region}:{self.account}:secret:"

    def parameter(self, name: str) -> str:
        return f"arn:aws:ssm:{self.region}:{self.account}:parameter{name if name.startswith('/') else '/' + name}"

    def parameter_name(self, identifier: str) -> str | None:
        """The parameter a name or ARN names; None for an ARN not of this server's."""
        if not identifier.startswith("arn:"):
            return identifier
        head = f"arn:aws:ssm:{self.region}:{self.account}:parameter"
        if not identifier.startswith(head + "/"):
            return None
        name = identifier[len(head):]
        # a top-level name (`db-pass`) has the ARN `parameter/db-pass`; a path keeps its slash
        return name if name.count("/") > 1 else name[1:]

    def owns(self, parsed: ParsedArn) -> bool:
        return parsed.region == self.region and parsed.account == self.account

    def cluster_name(self, identifier: str | None) -> str:
        """The cluster a request names (short name or ARN); `default` when none."""
        if not identifier:
            return "default"
        if identifier.startswith("arn:"):
            parsed = parse(identifier)
            if parsed is None or parsed.kind != "cluster" or len(parsed.parts) != 1:
                return identifier  # not found later, as AWS answers for a foreign name
            return parsed.parts[0]
        return identifier

    def member_id(self, identifier: str, kind: str) -> tuple[str | None, str]:
        """(cluster name or None, id) of a task / container-instance id or ARN."""
        if identifier.startswith("arn:"):
            parsed = parse(identifier)
            if parsed is None or parsed.kind != kind or not self.owns(parsed):
                return None, ""
            if len(parsed.parts) == 2:
                return parsed.parts[0], parsed.parts[1]
            return None, parsed.parts[-1]  # short ARN format: kind/ID
        return None, identifier
