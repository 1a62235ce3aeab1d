"""The QEMU guest agent's network-get-interfaces, as a running guest with the agent answers it.

Clients read guests' addresses from it (community.proxmox's proxmox_vm_info `network: true`
takes its `result`; Terraform providers and inventory scripts do the same). qemu-server refuses
first as PVE::QemuServer::Agent::assert_agent_available does: no `agent` in the config, a guest
that is not running, an agent that is not enabled. The guest then shows `lo` and one interface
per `netN` (named as a Linux guest names a NIC in PCI slot 18 + N, `ensN`) with the NIC's MAC,
the static addresses of its `ipconfigN` and the IPv6 link-local address every Linux interface
has. A seeded answer is kept as written.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import wire
from ..state import MISSING
from . import handles
from .guests import config_of

if TYPE_CHECKING:
    from ..world import Call

_MAC = re.compile(r"^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$")
_NET = re.compile(r"^net(\d+)$")


def _link_local(mac: str) -> str:
    """fe80:: plus the modified EUI-64 of `mac` (RFC 4291), as the kernel forms it."""
    octets = [int(o, 16) for o in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


def _address(cidr: str, family: str) -> dict[str, Any] | None:
    ip, slash, prefix = cidr.partition("/")
    if not slash or not prefix.isdigit():
        return None
    return {"ip-address-type": family, "ip-address": ip, "prefix": int(prefix)}


def _interface(n: int, net: str, ipconfig: str) -> dict[str, Any] | None:
    first = net.split(",")[0]
    mac = first.partition("=")[2]
    if not _MAC.match(mac):
        return None
    options = dict(part.partition("=")[::2] for part in ipconfig.split(",") if "=" in part)
    addresses = [
        a for a in (_address(options.get("ip", ""), "ipv4"), _address(options.get("ip6", ""), "ipv6")) if a is not None
    ]
    addresses.append({"ip-address-type": "ipv6", "ip-address": _link_local(mac), "prefix": 64})
    return {"name": f"ens{18 + n}", "hardware-address": mac.lower(), "ip-addresses": addresses}


@handles("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces", stable=True)
def network_get_interfaces(call: Call) -> Any:
    seeded = call.store.get(call.segments)
    if seeded is not MISSING:
        return seeded
    node, vmid = call.params["node"], call.params["vmid"]
    cfg = config_of(call.store, node, "qemu", vmid)
    if "agent" not in cfg:
        raise wire.ApiError(500, wire.AGENT_NOT_CONFIGURED)
    item = call.store.get(("nodes", node, "qemu", str(vmid)))
    if not isinstance(item, dict) or item.get("status", "stopped") != "running":
        raise wire.ApiError(500, wire.agent_guest_not_running(vmid))
    if str(cfg["agent"]).split(",")[0] not in ("1", "enabled=1"):
        raise wire.ApiError(500, wire.AGENT_NOT_RUNNING)
    loopback = {
        "name": "lo",
        "hardware-address": "00:00:00:00:00:00",
        "ip-addresses": [
            {"ip-address-type": "ipv4", "ip-address": "127.0.0.1", "prefix": 8},
            {"ip-address-type": "ipv6", "ip-address": "::1", "prefix": 128},
        ],
    }
    nics = []
    for key in sorted((k for k in cfg if _NET.match(k)), key=lambda k: int(k[3:])):
        n = int(key[3:])
        nic = _interface(n, str(cfg[key]), str(cfg.get(f"ipconfig{n}", "")))
        if nic is not None:
            nics.append(nic)
    return {"result": [loopback, *nics]}
