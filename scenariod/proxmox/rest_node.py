"""A fresh PBS or PDM host: the node reads they share with PVE answer as on a new install.

No subscription, the resolver, and (PBS) the host's disks, as state under the host's name
(reached through `/nodes/localhost` too); anything the scenario seeds there wins. Runs after
pbs.py has settled the host's name. The clock-driven reads are node.py's, for all three.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from . import node_data, prepares
from .node import subscription
from .pbs import hostname

if TYPE_CHECKING:
    from ..scenario import Scenario
    from ..world import World


@prepares("pbs", "pdm")
def default_host(world: World, scenario: Scenario) -> None:
    store = world.store
    host = hostname(store)
    base = ("nodes", host)
    store.setdefault((*base, "subscription"), subscription(scenario.seed, host, scenario.service))
    store.setdefault((*base, "dns"), dict(node_data.DNS))
    if scenario.service == "pbs":
        disks = []
        for disk in node_data.PBS_DISKS:
            serial = hashlib.blake2b(f"{scenario.seed}:{host}:{disk['name']}".encode(), digest_size=6).hexdigest()
            disks.append({**disk, "status": "passed", "serial": serial.upper()})
        store.setdefault((*base, "disks", "list"), disks)
