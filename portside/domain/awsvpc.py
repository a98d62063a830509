"""An awsvpc task's elastic network interface, as ECS reports it: an
`ElasticNetworkInterface` attachment made when the task is placed
(PRECREATED, with its subnet and interface id), ATTACHED once the agent has
given the task its network namespace (its address, MAC address and private
DNS name), and DELETED when the task has stopped and the namespace is gone.
Each container then lists the interface in `networkInterfaces`.

Pure functions over ECS-shaped dicts.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid

from .documents import Doc

ENI = "ElasticNetworkInterface"


def new_attachment(config: Doc) -> Doc:
    """The ENI attachment of a task just placed with this awsvpcConfiguration."""
    return {
        "id": str(uuid.uuid4()),
        "type": ENI,
        "status": "PRECREATED",
        "details": [
            {"name": "subnetId", "value": config["subnets"][0]},
            {"name": "networkInterfaceId", "value": "eni-" + secrets.token_hex(9)[:17]},
        ],
    }


def eni(task: Doc) -> Doc | None:
    for attachment in task.get("attachments") or []:
        if attachment.get("type") == ENI:
            return attachment
    return None


def detail(attachment: Doc, name: str) -> str | None:
    for item in attachment.get("details") or []:
        if item.get("name") == name:
            return item.get("value")
    return None


def attach(task: Doc, attachment_id: str, ip: str, mac: str, region: str, now: float) -> bool:
    """The agent gave the task its namespace: the ENI is ATTACHED with its
    addresses, and every container lists it.  False when the task has no such
    attachment or the address is not an IPv4 address."""
    attachment = eni(task)
    if attachment is None or attachment["id"] != attachment_id:
        return False
    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    if attachment["status"] in ("DELETED",):
        return True  # a late report for a stopped task changes nothing
    details = [d for d in attachment["details"] if d["name"] in ("subnetId", "networkInterfaceId")]
    details += [
        {"name": "macAddress", "value": mac},
        {"name": "privateDnsName", "value": private_dns_name(address, region)},
        {"name": "privateIPv4Address", "value": str(address)},
    ]
    attachment["details"] = details
    attachment["status"] = "ATTACHED"
    for container in task["containers"]:
        container["networkInterfaces"] = [{"attachmentId": attachment_id, "privateIpv4Address": str(address)}]
    task["connectivity"] = "CONNECTED"
    task.setdefault("connectivityAt", now)
    return True


def detach(task: Doc) -> None:
    """The task has stopped: its namespace and address are gone."""
    attachment = eni(task)
    if attachment is not None:
        attachment["status"] = "DELETED"
    if "connectivity" in task:
        task["connectivity"] = "DISCONNECTED"


def private_dns_name(address: ipaddress.IPv4Address, region: str) -> str:
    """EC2's private DNS name for an address (ip-10-0-1-5.ec2.internal in
    us-east-1, ip-10-0-1-5.REGION.compute.internal elsewhere)."""
    host = "ip-" + str(address).replace(".", "-")
    return f"{host}.ec2.internal" if region == "us-east-1" else f"{host}.{region}.compute.internal"
