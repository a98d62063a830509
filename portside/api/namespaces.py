"""ListServicesByNamespace: the ACTIVE services, of any cluster, whose
`serviceConnectConfiguration.namespace` is the namespace named.

There is no Cloud Map here: a namespace exists when a cluster's
`serviceConnectDefaults` or a service names it, and it is matched exactly as
it was given (name or ARN).
"""

from __future__ import annotations

from ..domain.documents import Doc
from ..protocol import errors
from ..protocol.dispatch import operation
from .common import decode_token, offset_page, page
from .context import Context


def _namespace(doc: Doc, member: str) -> str | None:
    return (doc.get(member) or {}).get("namespace")


@operation("ListServicesByNamespace")
def list_services_by_namespace(ctx: Context, params: Doc) -> Doc:
    namespace = params["namespace"]
    store = ctx.store
    services = [s for s in store.services_to_reconcile() if _namespace(s, "serviceConnectConfiguration") == namespace]
    known = bool(services) or any(
        _namespace(cluster, "serviceConnectDefaults") == namespace
        for cluster in _clusters(ctx)
    )
    if not known:
        raise errors.NamespaceNotFoundException(f"Namespace {namespace[:256]} was not found.")
    arns = [s["serviceArn"] for s in services if s["status"] == "ACTIVE"]
    offset = decode_token(params.get("nextToken"), 0)
    limit = page(params, 10)
    return offset_page("serviceArns", arns[offset:offset + limit + 1], offset, limit)


def _clusters(ctx: Context) -> list[Doc]:
    found, after = [], ""
    while True:
        arns = ctx.store.list_cluster_arns(after, 100)
        for arn in arns:
            cluster = ctx.store.get_cluster(arn.rsplit("/", 1)[-1])
            if cluster is not None:
                found.append(cluster)
        if len(arns) < 100:
            return found
        after = arns[-1]
