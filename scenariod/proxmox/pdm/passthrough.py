"""The GETs PDM answers with a live remote's own answer from the same place on the remote.

PDM's API under `/pve/remotes/{remote}/` and `/pbs/remotes/{remote}/` mirrors the
remote's: a node's status, storage, network, APT, subscription and RRD data, a guest's
pending config, snapshots and firewall, the cluster's options and next free VMID. Those with
a behaviour of their own (resources, guest lists, status, config, tasks, datastores...) are
answered in the other modules; every other GET on a live remote is asked of the remote, a
guest's on the node it runs on. On a declared remote they are generic CRUD over its state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import generic
from .. import falls_back
from .model import GUESTS, live_cfg, live_guest
from .remote_client import remote_calls

if TYPE_CHECKING:
    from ...world import Call

# PDM's own names for a PVE cluster's places (the rest keep the remote's path)
_CLUSTER_PLACES = {"options": "/cluster/options", "cluster-nextid": "/cluster/nextid", "firewall": "/cluster/firewall"}


def _computed(call: Call) -> bool:
    """`.../firewall/status`: PDM computes it from several answers, the remote has no one place for it
    (its declared state answers)."""
    return call.segments[-2:] == ["firewall", "status"]


@falls_back("/pve/remotes/{remote}/", ("pdm",), ("GET",), finds_own_objects=True)
@falls_back("/pbs/remotes/{remote}/", ("pdm",), ("GET",), finds_own_objects=True)
def passthrough(call: Call) -> Any:
    if _computed(call):
        generic.check_ancestors(call.store, call.node, call.segments, call.params)
    else:
        cfg = live_cfg(call)
        if cfg is not None:
            return _ask(call, cfg)
    return generic.handle(call)


async def _ask(call: Call, cfg: dict[str, Any]) -> Any:
    tail = call.segments[3:]
    head = tail[0]
    if head in GUESTS:
        res = await live_guest(call, cfg, head)
        path = f"/nodes/{res['node']}/" + "/".join(tail)
    elif cfg.get("type") == "pbs" and head == "rrddata":
        path = "/nodes/localhost/rrd"
    elif cfg.get("type") == "pbs" and head == "datastore":
        path = "/admin/" + "/".join(tail[:-1]) + "/rrd"  # datastore/{ds}/rrddata
    elif head in _CLUSTER_PLACES:
        path = _CLUSTER_PLACES[head] + "".join("/" + seg for seg in tail[1:])
    else:
        path = "/" + "/".join(tail)
    params = {k: v for k, v in call.args.items() if k not in call.params}
    return await remote_calls(call.world).get(cfg, path, params or None)
