"""A fresh PBS or PDM host: the node reads they share with PVE answer as on a new install.

No subscription, the resolver, the host's NICs (no bridge: their installers configure the
NIC itself), packages and pending updates, and (PBS) disks and services, as state under the
host's name (reached through `/nodes/localhost` too); anything the scenario seeds there wins.
Runs after pbs.py has settled the host's name. The clock-driven reads are node.py's, for all three.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from . import node_data, prepares
from .node import services, subscription, updates, versions
from .restserver import hostname

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..world import World


@prepares("pbs", "pdm")
def default_host(world: World, scenario: Scenario) -> None:
    store = world.store
    host = hostname(store)
    base = ("nodes", host)
    store.setdefault((*base, "subscription"), subscription(scenario.seed, host, scenario.service))
    store.setdefault((*base, "dns"), dict(node_data.DNS))
    product = scenario.service
    store.setdefault((*base, "apt", "versions"), versions(node_data.REST_PACKAGES[product], pve=False))
    store.setdefault((*base, "apt", "update"), updates(node_data.REST_UPDATES[product], pve=False))
    if not store.keys((*base, "network")):
        for nic in _nics(node_data.REST_HOST_OCTET[product]):
            store.set((*base, "network", nic["iface"]), nic)
    if scenario.service == "pbs":
        disks = []
        for disk in node_data.PBS_DISKS:
            serial = hashlib.blake2b(f"{scenario.seed}:{host}:{disk['name']}".encode(), digest_size=6).hexdigest()
            disks.append({**disk, "status": "passed", "serial": serial.upper()})
        store.setdefault((*base, "disks", "list"), disks)
        if not store.keys((*base, "services")):
            for unit in services(node_data.PBS_SERVICES):
                store.set((*base, "services", unit["service"]), unit)


def _nics(octet: int) -> list[dict[str, Any]]:
    net = node_data.NETWORK
    address = f"{net['prefix']}.{octet}"
    first, second = node_data.NICS
    common = {"type": "eth", "altnames": [], "options": [], "options6": []}
    return [
        {"iface": first, "name": first, **common, "method": "static", "cidr": f"{address}/{net['bits']}",
         "gateway": net["gateway"], "active": True, "autostart": True},
        {"iface": second, "name": second, **common, "method": "manual", "active": False, "autostart": False},
    ]  # fmt: skip
