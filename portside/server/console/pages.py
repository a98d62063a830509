"""The console's pages: each reads through the ECS API in-process (`inproc`)
and renders server-side HTML.  The part of a page that changes sits in
`#live`, which htmx re-fetches every few seconds (`hx-select` picks it out of
the whole page), so a deployment can be watched without reloading; forms stay
outside it, so a refresh never eats what is being typed."""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Iterable
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from ..inproc import call, chunks, pages

REFRESH_S = 2
TASK_LIST_LIMIT = 200
TASK_STATUSES = ("RUNNING", "STOPPED")
TIMELINE = (("createdAt", "created"), ("pullStartedAt", "pull started"), ("pullStoppedAt", "pulled"),
            ("startedAt", "started"), ("stoppingAt", "stopping"), ("stoppedAt", "stopped"))


def h(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def q(value: str) -> str:
    return quote(value, safe="")


def when(epoch: float | None) -> str:
    if not epoch:
        return ""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status(value: Any) -> str:
    return f'<span class="st st-{h(value)}">{h(value)}</span>'


def bar(used: float, total: float, label: str) -> str:
    share = 0 if not total else max(0.0, min(1.0, used / total))
    return (f'<span class="bar" title="{h(label)}"><span style="width:{share * 100:.0f}%"></span></span> '
            f'<span class="small">{h(label)}</span>')


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], empty: str = "Nothing here yet.") -> str:
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{h(empty)}</p>'
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def live(content: str, refresh: bool = True) -> str:
    if not refresh:
        return f'<div id="live">{content}</div>'
    return (f'<div id="live" hx-get="" hx-trigger="every {REFRESH_S}s" hx-select="#live" '
            f'hx-swap="outerHTML">{content}</div>')


def form(action: str, csrf: str, fields: str, label: str, cls: str = "inline") -> str:
    return (f'<form class="{cls}" method="post" action="{h(action)}">'
            f'<input type="hidden" name="csrf" value="{h(csrf)}">{fields}'
            f'<button type="submit">{h(label)}</button></form>')


def _resource(resources: list[dict[str, Any]], name: str) -> Any:
    for r in resources or []:
        if r.get("name") == name:
            return r.get("integerValue") if r.get("type") == "INTEGER" else r.get("stringSetValue", [])
    return 0


def _name(arn: str) -> str:
    return arn.rpartition("/")[2]


def _instances(ctx: Any, cluster: str) -> list[dict[str, Any]]:
    arns = list(pages(ctx, "ListContainerInstances", "containerInstanceArns", cluster=cluster, maxResults=100))
    found: list[dict[str, Any]] = []
    for batch in chunks(arns, 100):
        found += call(ctx, "DescribeContainerInstances", cluster=cluster, containerInstances=batch)["containerInstances"]
    return found


# -- clusters -----------------------------------------------------------------------


def clusters(ctx: Any) -> tuple[str, str]:
    arns = list(pages(ctx, "ListClusters", "clusterArns", maxResults=100))
    described: list[dict[str, Any]] = []
    for batch in chunks(arns, 100):
        described += call(ctx, "DescribeClusters", clusters=batch)["clusters"]
    rows = []
    for c in sorted(described, key=lambda c: c["clusterName"]):
        name = c["clusterName"]
        cpu = [0, 0]
        mem = [0, 0]
        for i in _instances(ctx, name):
            if i["status"] != "ACTIVE":
                continue
            cpu[0] += _resource(i["registeredResources"], "CPU") - _resource(i["remainingResources"], "CPU")
            cpu[1] += _resource(i["registeredResources"], "CPU")
            mem[0] += _resource(i["registeredResources"], "MEMORY") - _resource(i["remainingResources"], "MEMORY")
            mem[1] += _resource(i["registeredResources"], "MEMORY")
        base = f"/ui/clusters/{q(name)}"
        rows.append([
            f'<a href="{base}/services">{h(name)}</a>', status(c["status"]),
            f'<a href="{base}/instances">{c["registeredContainerInstancesCount"]}</a>',
            f'<a href="/ui/tasks?cluster={q(name)}">{c["runningTasksCount"]} running</a>, '
            f'{c["pendingTasksCount"]} pending',
            f'<a href="{base}/services">{c["activeServicesCount"]}</a>',
            bar(cpu[0], cpu[1], f"{cpu[0]} / {cpu[1]} CPU units"),
            bar(mem[0], mem[1], f"{mem[0]} / {mem[1]} MiB"),
        ])
    content = table(["Cluster", "Status", "Instances", "Tasks", "Services", "CPU used", "Memory used"], rows,
                    "No clusters yet: aws ecs create-cluster.")
    return "Clusters", "<h1>Clusters</h1>" + live(content)


# -- container instances ------------------------------------------------------------


def instances(ctx: Any, cluster: str, csrf: str) -> tuple[str, str]:
    rows = []
    for i in sorted(_instances(ctx, cluster), key=lambda i: i["containerInstanceArn"]):
        reg, rem = i["registeredResources"], i["remainingResources"]
        cpu_total, mem_total = _resource(reg, "CPU"), _resource(reg, "MEMORY")
        used_ports = sorted(set(_resource(reg, "PORTS")) ^ set(_resource(rem, "PORTS")), key=int)
        ident = _name(i["containerInstanceArn"])
        target = "ACTIVE" if i["status"] == "DRAINING" else "DRAINING"
        action = form(f"/ui/clusters/{q(cluster)}/instances/{q(ident)}/state", csrf,
                      f'<input type="hidden" name="status" value="{target}">',
                      "Drain" if target == "DRAINING" else "Activate") if i["status"] in ("ACTIVE", "DRAINING") else ""
        attributes = ", ".join(h(a["name"] + ("=" + a["value"] if a.get("value") else ""))
                               for a in i.get("attributes", []) if not a["name"].startswith("com.amazonaws.ecs.capability"))
        rows.append([
            f'<span title="{h(i["containerInstanceArn"])}">{h(ident)}</span>', status(i["status"]),
            status(str(i.get("agentConnected", False)).lower()),
            f'<a href="/ui/tasks?cluster={q(cluster)}">{i["runningTasksCount"]} running</a>, {i["pendingTasksCount"]} pending',
            bar(cpu_total - _resource(rem, "CPU"), cpu_total, f"{cpu_total - _resource(rem, 'CPU')} / {cpu_total}"),
            bar(mem_total - _resource(rem, "MEMORY"), mem_total,
                f"{mem_total - _resource(rem, 'MEMORY')} / {mem_total} MiB"),
            h(", ".join(used_ports)) or '<span class="muted">none</span>',
            f'<details><summary class="small">{len(i.get("attributes", []))}</summary>'
            f'<span class="small">{attributes}</span></details>',
            action,
        ])
    content = table(["Instance", "Status", "Agent", "Tasks", "CPU", "Memory", "Ports in use", "Attributes", ""],
                    rows, "No container instances: start `portside agent --server URL`.")
    return (f"Instances · {cluster}",
            f'<h1>Container instances <span class="muted">in {h(cluster)}</span></h1>' + live(content))


# -- services -----------------------------------------------------------------------


def _services(ctx: Any, cluster: str) -> list[dict[str, Any]]:
    arns = list(pages(ctx, "ListServices", "serviceArns", cluster=cluster, maxResults=100))
    found: list[dict[str, Any]] = []
    for batch in chunks(arns, 10):
        found += call(ctx, "DescribeServices", cluster=cluster, services=batch)["services"]
    return sorted(found, key=lambda s: s["serviceName"])


def services(ctx: Any, cluster: str) -> tuple[str, str]:
    rows = []
    for s in _services(ctx, cluster):
        primary: dict[str, Any] = next((d for d in s.get("deployments", []) if d["status"] == "PRIMARY"), {})
        rows.append([
            f'<a href="/ui/clusters/{q(cluster)}/services/{q(s["serviceName"])}">{h(s["serviceName"])}</a>',
            status(s["status"]), h(s.get("schedulingStrategy", "")),
            f'{s.get("desiredCount", 0)} / {s.get("runningCount", 0)} / {s.get("pendingCount", 0)}',
            h(_name(s.get("taskDefinition", ""))), status(primary.get("rolloutState", "")),
        ])
    content = table(["Service", "Status", "Type", "Desired / running / pending", "Task definition", "Rollout"],
                    rows, "No services in this cluster.")
    return f"Services · {cluster}", f'<h1>Services <span class="muted">in {h(cluster)}</span></h1>' + live(content)


def service(ctx: Any, cluster: str, name: str, csrf: str) -> tuple[str, str]:
    found = call(ctx, "DescribeServices", cluster=cluster, services=[name])["services"]
    if not found:
        return name, f'<div class="error">Service {h(name)} was not found in {h(cluster)}.</div>'
    s = found[0]
    base = f"/ui/clusters/{q(cluster)}/services/{q(name)}"
    actions = ""
    if s["status"] == "ACTIVE":
        actions = '<div class="card">' + form(
            f"{base}/scale", csrf,
            f'<label>Desired count <input name="desiredCount" type="number" min="0" value="{s.get("desiredCount", 0)}" '
            f'style="width:80px"></label> ', "Scale") + " " + form(
            f"{base}/deploy", csrf, "", "Force new deployment") + _stop_deployment(ctx, cluster, name, base, csrf) + "</div>"
    deployments = table(
        ["Deployment", "Status", "Rollout", "Task definition", "Desired", "Running", "Pending", "Failed", "Updated"],
        ([h(d["id"]), status(d["status"]), status(d.get("rolloutState", "")) + f'<div class="small muted">'
          f'{h(d.get("rolloutStateReason", ""))}</div>', h(_name(d.get("taskDefinition", ""))),
          str(d.get("desiredCount", 0)), str(d.get("runningCount", 0)), str(d.get("pendingCount", 0)),
          str(d.get("failedTasks", 0)), h(when(d.get("updatedAt")))] for d in s.get("deployments", [])))
    tasks = _task_rows(ctx, cluster, _task_arns(ctx, cluster, service=name, status="RUNNING"))
    events = table(["Time", "Message"], ([h(when(e.get("createdAt"))), h(e.get("message"))]
                                        for e in s.get("events", [])[:50]), "No events yet.")
    content = (f'<div class="card">{status(s["status"])} · {h(s.get("schedulingStrategy"))} · desired '
               f'<b id="desired">{s.get("desiredCount", 0)}</b> · running <b id="running">{s.get("runningCount", 0)}</b>'
               f' · pending <b>{s.get("pendingCount", 0)}</b> · task definition '
               f'<a href="/ui/task-definitions/{q(_name(s.get("taskDefinition", "")).replace(":", "/"))}">'
               f'{h(_name(s.get("taskDefinition", "")))}</a></div>'
               f'<h2>Deployments</h2><div id="deployments">{deployments}</div><h2>Running tasks</h2>'
               f'<div id="tasks">{tasks}</div><h2>Events</h2><div id="events">{events}</div>')
    return (f"{name} · {cluster}",
            f'<h1>Service {h(name)} <span class="muted">in <a href="/ui/clusters/{q(cluster)}/services">'
            f'{h(cluster)}</a></span></h1>{actions}' + live(content))


def _stop_deployment(ctx: Any, cluster: str, name: str, base: str, csrf: str) -> str:
    """A "Stop deployment" action (StopServiceDeployment, ROLLBACK) for the
    deployment in progress, if there is one."""
    running = call(ctx, "ListServiceDeployments", cluster=cluster, service=name,
                   status=["PENDING", "IN_PROGRESS"]).get("serviceDeployments", [])
    if not running:
        return ""
    arn = running[0]["serviceDeploymentArn"]
    return " " + form(f"{base}/stop-deployment", csrf,
                      f'<input type="hidden" name="serviceDeploymentArn" value="{h(arn)}">',
                      "Stop deployment (roll back)")


# -- tasks --------------------------------------------------------------------------


def _task_arns(ctx: Any, cluster: str, service: str = "", status: str = "", family: str = "") -> list[str]:
    params: dict[str, Any] = {"cluster": cluster, "maxResults": 100}
    if service:
        params["serviceName"] = service
    if status:
        params["desiredStatus"] = status
    if family:
        params["family"] = family
    arns = []
    for arn in pages(ctx, "ListTasks", "taskArns", **params):
        arns.append(arn)
        if len(arns) >= TASK_LIST_LIMIT:
            break
    return arns


def _describe_tasks(ctx: Any, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for batch in chunks(arns, 100):
        found += call(ctx, "DescribeTasks", cluster=cluster, tasks=batch)["tasks"]
    return sorted(found, key=lambda t: t.get("createdAt", 0), reverse=True)


def _task_rows(ctx: Any, cluster: str, arns: list[str]) -> str:
    rows = []
    for t in _describe_tasks(ctx, cluster, arns):
        ident = _name(t["taskArn"])
        rows.append([
            f'<a class="small" href="/ui/clusters/{q(cluster)}/tasks/{q(ident)}">{h(ident)}</a>',
            status(t["lastStatus"]), h(t.get("desiredStatus")), h(_name(t.get("taskDefinitionArn", ""))),
            h(t.get("group", "")), h(when(t.get("createdAt"))), h(t.get("stoppedReason", "")),
        ])
    return table(["Task", "Last status", "Desired", "Task definition", "Group", "Created", "Stopped reason"], rows,
                 "No tasks match.")


def task_list(ctx: Any, cluster: str, service: str, status_filter: str, family: str) -> tuple[str, str]:
    cluster_names = sorted(_name(a) for a in pages(ctx, "ListClusters", "clusterArns", maxResults=100))
    if not cluster and cluster_names:
        cluster = "default" if "default" in cluster_names else cluster_names[0]
    options = "".join(f'<option{" selected" if c == cluster else ""}>{h(c)}</option>' for c in cluster_names)
    statuses = "".join(f'<option{" selected" if s == status_filter else ""}>{s}</option>' for s in TASK_STATUSES)
    filters = (f'<form class="filters" method="get" action="/ui/tasks">'
               f'<label>Cluster<select name="cluster">{options}</select></label>'
               f'<label>Service<input name="service" value="{h(service)}"></label>'
               f'<label>Desired status<select name="status"><option value="">any</option>{statuses}</select></label>'
               f'<label>Family<input name="family" value="{h(family)}"></label>'
               f'<button type="submit">Filter</button></form>')
    if not cluster:
        return "Tasks", "<h1>Tasks</h1>" + filters + '<p class="muted">No clusters yet.</p>'
    if status_filter:
        arns = _task_arns(ctx, cluster, service, status_filter, family)
    else:  # ListTasks lists one desired status at a time; "any" is both
        arns = _task_arns(ctx, cluster, service, "RUNNING", family) + _task_arns(ctx, cluster, service, "STOPPED", family)
    return "Tasks", "<h1>Tasks</h1>" + filters + live(_task_rows(ctx, cluster, arns[:TASK_LIST_LIMIT]))


def task(ctx: Any, cluster: str, ident: str, csrf: str) -> tuple[str, str]:
    found = call(ctx, "DescribeTasks", cluster=cluster, tasks=[ident])["tasks"]
    if not found:
        return ident, f'<div class="error">Task {h(ident)} was not found in {h(cluster)}.</div>'
    t = found[0]
    start = t.get("createdAt") or 0
    steps = "".join(f'<div><b>{label}</b><br><span class="small">{h(when(t[key]))}'
                    f'{"" if key == "createdAt" else f" (+{t[key] - start:.1f} s)"}</span></div>'
                    for key, label in TIMELINE if t.get(key))
    containers = table(
        ["Container", "Last status", "Exit code", "Reason", "Network bindings", "Health", "Runtime id"],
        ([h(c["name"]), status(c.get("lastStatus")), h(c.get("exitCode", "")), h(c.get("reason", "")),
          h(", ".join(f'{b.get("bindIP", "")}:{b.get("hostPort")}→{b.get("containerPort")}/{b.get("protocol", "tcp")}'
                      for b in c.get("networkBindings", []))),
          h(c.get("healthStatus", "")), h((c.get("runtimeId") or "")[:12])] for c in t.get("containers", [])))
    stop = ""
    if t.get("desiredStatus") != "STOPPED":
        stop = form(f"/ui/clusters/{q(cluster)}/tasks/{q(ident)}/stop", csrf, "", "Stop task")
    content = (f'<div class="card">{status(t["lastStatus"])} (desired {h(t.get("desiredStatus"))}) · '
               f'{h(_name(t.get("taskDefinitionArn", "")))} · group {h(t.get("group", ""))} · started by '
               f'{h(t.get("startedBy", ""))} · instance {h(_name(t.get("containerInstanceArn", "")))}'
               f'{("<br>Stopped: " + h(t.get("stopCode", "")) + " " + h(t.get("stoppedReason", ""))) if t.get("stoppedReason") else ""}'
               f'</div><h2>Lifecycle</h2><div class="timeline">{steps}</div><h2>Containers</h2>{containers}')
    # outside #live: each container's output is loaded (and refreshed) on its own (console/logs.py)
    output = "".join(
        f'<h3>{h(c["name"])}</h3><div class="logs" hx-get="{h(logs_url(cluster, ident, c["name"]))}" '
        'hx-trigger="load" hx-swap="innerHTML"><span class="muted small">Loading…</span></div>'
        for c in t.get("containers", []))
    return (f"Task {ident[:12]}", f'<h1>Task {h(ident)} <span class="muted">in {h(cluster)}</span></h1>'
            f'<div>{stop}</div>' + live(content, refresh=t["lastStatus"] != "STOPPED")
            + f"<h2>Logs</h2>{output}")


def logs_url(cluster: str, task: str, container: str) -> str:
    """A container's output as a fragment of the task page (console/logs.py)."""
    return f"/ui/clusters/{q(cluster)}/tasks/{q(task)}/logs/{q(container)}"


# -- task definitions ---------------------------------------------------------------


def families(ctx: Any) -> tuple[str, str]:
    names = list(pages(ctx, "ListTaskDefinitionFamilies", "families", status="ALL", maxResults=100))
    rows = [[f'<a href="/ui/task-definitions/{q(f)}">{h(f)}</a>'] for f in sorted(names)]
    return "Task definitions", "<h1>Task definitions</h1>" + table(["Family"], rows, "No task definitions yet.")


def revisions(ctx: Any, family: str) -> tuple[str, str]:
    arns = list(pages(ctx, "ListTaskDefinitions", "taskDefinitionArns", familyPrefix=family, status="ACTIVE",
                      sort="DESC", maxResults=100))
    arns += list(pages(ctx, "ListTaskDefinitions", "taskDefinitionArns", familyPrefix=family, status="INACTIVE",
                       sort="DESC", maxResults=100))
    mine = [a for a in arns if _name(a).rpartition(":")[0] == family]
    numbers = sorted((int(_name(a).rpartition(":")[2]) for a in mine), reverse=True)
    rows = [[f'<a href="/ui/task-definitions/{q(family)}/{n}">{h(family)}:{n}</a>'] for n in numbers]
    diff = ""
    if len(numbers) >= 2:
        opts = lambda chosen: "".join(f'<option{" selected" if n == chosen else ""}>{n}</option>' for n in numbers)  # noqa: E731
        diff = (f'<form class="filters" method="get" action="/ui/task-definitions/{q(family)}/diff">'
                f'<label>From<select name="a">{opts(numbers[1])}</select></label>'
                f'<label>To<select name="b">{opts(numbers[0])}</select></label>'
                f'<button type="submit">Compare</button></form>')
    return family, f"<h1>Family {h(family)}</h1>{diff}" + table(["Revision"], rows)


def _definition(ctx: Any, family: str, revision: int) -> dict[str, Any]:
    return call(ctx, "DescribeTaskDefinition", taskDefinition=f"{family}:{revision}")["taskDefinition"]


def definition(ctx: Any, family: str, revision: int) -> tuple[str, str]:
    doc = _definition(ctx, family, revision)
    return (f"{family}:{revision}", f'<h1>{h(family)}:{revision} {status(doc.get("status"))}</h1>'
            f'<p><a href="/ui/task-definitions/{q(family)}">all revisions</a></p>'
            f'<pre id="definition">{h(json.dumps(doc, indent=2, sort_keys=True))}</pre>')


def diff(ctx: Any, family: str, a: int, b: int) -> tuple[str, str]:
    left = json.dumps(_definition(ctx, family, a), indent=2, sort_keys=True).splitlines()
    right = json.dumps(_definition(ctx, family, b), indent=2, sort_keys=True).splitlines()
    rows = []
    for line in difflib.unified_diff(left, right, f"{family}:{a}", f"{family}:{b}", n=3, lineterm=""):
        cls = "add" if line.startswith("+") and not line.startswith("+++") else \
              "del" if line.startswith("-") and not line.startswith("---") else ""
        rows.append(f'<tr class="{cls}"><td>{h(line)}</td></tr>')
    body = "".join(rows) or '<tr><td class="muted">The two revisions are the same.</td></tr>'
    return (f"{family}: {a} → {b}", f'<h1>{h(family)}: revision {a} → {b}</h1>'
            f'<p><a href="/ui/task-definitions/{q(family)}">all revisions</a></p>'
            f'<table class="diff" id="diff">{body}</table>')


def query_string(**params: str) -> str:
    return urlencode({k: v for k, v in params.items() if v})
