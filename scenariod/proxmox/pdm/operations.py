"""Operations PDM runs on a remote as tasks there: guest power, migration, snapshots, apt update."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ... import generic, wire
from ...tasks import TaskRequest
from .. import handles, power
from .model import (
    GUESTS,
    default_node_name,
    derive_pve,
    live_cfg,
    live_guest,
    normalize_resource,
    pbs_host,
    remote_cfg,
    remote_type,
    resources_of,
)
from .pve_remotes import remote_guest
from .remote_client import endpoints, is_live, remote_calls

if TYPE_CHECKING:
    from ...state import StateStore
    from ...world import Call

# --- remote operations as tasks on the remote --------------------------------------------------------


def _set_resource(store: StateStore, rid: str, kind: str, vmid: int, **changes: Any) -> None:
    resources = resources_of(store, rid)
    for i, res in enumerate(resources):
        if res["type"] == kind and res["vmid"] == vmid:
            resources[i] = normalize_resource({**res, **changes}, res["node"])
    store.set(("pve", "remotes", rid, "resources"), resources)
    derive_pve(store, rid)


def _remote_request(
    call: Call,
    node: str,
    task_type: str,
    task_id: str,
    effect: Callable[[], Any] | None = None,
    error: str | None = None,
) -> TaskRequest:
    rid = call.params["remote"]
    cfg = remote_cfg(call.store, rid) or {}
    return TaskRequest(
        node=node,
        type=task_type,
        id=task_id,
        user=str(cfg.get("authid") or "root@pam"),
        effect=effect,
        error=error,
        remote=rid,
        upid_format=cfg.get("type", "pve"),
    )


# The guest actions PDM forwards to a remote PVE; the remote answers them by the one power table.
PDM_POWER_ACTIONS = (
    ("qemu", "start"),
    ("qemu", "stop"),
    ("qemu", "shutdown"),
    ("qemu", "resume"),
    ("lxc", "start"),
    ("lxc", "stop"),
    ("lxc", "shutdown"),
)


async def _forward(call: Call, cfg: dict[str, Any], kind: str, what: str) -> str:
    """A guest operation on a live remote, asked of the node the guest runs on: the remote's
    UPID, as PDM answers it (`REMOTE!UPID:...`)."""
    res = await live_guest(call, cfg, kind)
    params = {k: v for k, v in call.args.items() if k not in ("remote", "vmid", "node")}
    path = f"/nodes/{res['node']}/{kind}/{res['vmid']}/{what}"
    upid = await remote_calls(call.world).send(cfg, "POST", path, params)
    return f"{cfg['id']}!{upid}"


def _power(kind: str, action: str) -> Callable[[Call], Any]:
    task_type = ("qm" if kind == "qemu" else "vz") + action
    target = power.POWER[(kind, action)].target

    def handler(call: Call) -> Any:
        cfg = live_cfg(call)
        if cfg is not None:
            return _forward(call, cfg, kind, f"status/{action}")
        res = remote_guest(call, kind)
        rid, vmid, store = call.params["remote"], res["vmid"], call.store
        error = power.refusal(kind, action, vmid, res["status"])

        def effect() -> None:
            if target == "running":
                _set_resource(store, rid, kind, vmid, status="running", uptime=1, cpu=0.05, mem=res["maxmem"] // 3)
            else:
                _set_resource(store, rid, kind, vmid, status="stopped", uptime=0, cpu=0, mem=0)

        return _remote_request(call, res["node"], task_type, str(vmid), effect, error)

    return handler


for _kind, _action in PDM_POWER_ACTIONS:
    handles("POST", f"/pve/remotes/{{remote}}/{_kind}/{{vmid}}/{_action}", ("pdm",), finds_own_objects=True)(
        _power(_kind, _action)
    )


def _migrate(kind: str) -> Callable[[Call], Any]:
    def handler(call: Call) -> Any:
        cfg = live_cfg(call)
        if cfg is not None:
            return _forward(call, cfg, kind, "migrate")
        res = remote_guest(call, kind)
        rid, vmid, store = call.params["remote"], res["vmid"], call.store
        target = str(call.args["target"])
        nodes = {r["node"] for r in resources_of(store, rid) if r["type"] == "node"}
        if target not in nodes:
            raise wire.ApiError(400, wire.no_such_cluster_node(target))
        if target == res["node"]:
            raise wire.ApiError(400, wire.TARGET_IS_LOCAL_NODE)

        def effect() -> None:
            _set_resource(store, rid, kind, vmid, node=target)

        return _remote_request(call, res["node"], "qmigrate" if kind == "qemu" else "vzmigrate", str(vmid), effect)

    return handler


def migration_endpoint(target: dict[str, Any], hostname: str | None) -> str:
    """PDM's `target-endpoint` for PVE's remote_migrate: the target node asked for (by its
    `hostname`), else the remote's first, with the remote's token and the node's pin."""
    found = endpoints(target)
    if hostname is not None:
        chosen = next((e for e in found if e.hostname == hostname), None)
        if chosen is None:
            raise wire.ApiError(400, wire.pdm_endpoint_not_in_target(hostname))
    elif found:
        chosen = found[0]
    else:
        raise wire.ApiError(400, wire.PDM_NO_TARGET_NODES)
    token = f"PVEAPIToken={target.get('authid') or 'root@pam'}={target.get('token') or ''}"
    endpoint = f"host={chosen.host},port={chosen.port},apitoken={token}"
    return endpoint + (f",fingerprint={chosen.fingerprint}" if chosen.fingerprint else "")


def _joined(value: Any) -> str:
    """PDM's list of mappings as PVE's `*-pair-list` string."""
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


async def _live_remote_migrate(call: Call, cfg: dict[str, Any], target: dict[str, Any], kind: str) -> str:
    """PDM asks the source remote to migrate the guest to the target cluster itself (its
    remote_migrate, with the target's endpoint and token): the source's UPID."""
    res = await live_guest(call, cfg, kind)
    params: dict[str, Any] = {
        "target-endpoint": migration_endpoint(target, call.args.get("target-endpoint")),
        "target-storage": _joined(call.args["target-storage"]),
        "target-bridge": _joined(call.args["target-bridge"]),
        "delete": bool(call.args.get("delete")),
    }
    for key in ("target-vmid", "online", "bwlimit", "restart", "timeout"):
        if call.args.get(key) is not None:
            params[key] = call.args[key]
    path = f"/nodes/{res['node']}/{kind}/{res['vmid']}/remote_migrate"
    upid = await remote_calls(call.world).send(cfg, "POST", path, params)
    return f"{cfg['id']}!{upid}"


def _remote_migrate(kind: str) -> Callable[[Call], Any]:
    def handler(call: Call) -> Any:
        target_cfg = remote_cfg(call.store, str(call.args["target"]))
        source_cfg = live_cfg(call)
        if call.params["remote"] == call.args["target"]:
            raise wire.ApiError(400, wire.PDM_MIGRATE_SAME_CLUSTER)
        if source_cfg is not None:
            if target_cfg is None:
                raise wire.ApiError(404, wire.pdm_remote_missing(str(call.args["target"])))
            return _live_remote_migrate(call, source_cfg, target_cfg, kind)
        if target_cfg is not None and is_live(target_cfg):
            raise wire.ApiError(501, wire.LIVE_REMOTE_MIGRATE_UNSUPPORTED)
        res = remote_guest(call, kind)
        rid, vmid, store = call.params["remote"], res["vmid"], call.store
        target = str(call.args["target"])
        target_cfg = remote_cfg(store, target)
        if target_cfg is None or target_cfg.get("type", "pve") != "pve":
            raise wire.ApiError(404, wire.pdm_remote_missing(target))
        new_vmid = int(call.args.get("target-vmid") or vmid)
        remove = bool(call.args.get("delete"))

        def effect() -> None:
            nodes = [r["node"] for r in resources_of(store, target) if r["type"] == "node"]
            moved = {k: v for k, v in res.items() if k != "id"}
            moved.update(vmid=new_vmid, node=nodes[0] if nodes else default_node_name(target_cfg, target))
            target_resources = [
                r for r in resources_of(store, target) if not (r["type"] == kind and r["vmid"] == new_vmid)
            ]
            target_resources.append(normalize_resource(moved, moved["node"]))
            store.set(("pve", "remotes", target, "resources"), target_resources)
            derive_pve(store, target)
            if remove:
                store.set(
                    ("pve", "remotes", rid, "resources"),
                    [r for r in resources_of(store, rid) if not (r["type"] == kind and r["vmid"] == vmid)],
                )
                derive_pve(store, rid)
            else:
                _set_resource(store, rid, kind, vmid, status="stopped", uptime=0, cpu=0, mem=0)

        return _remote_request(call, res["node"], "qmigrate" if kind == "qemu" else "vzmigrate", str(vmid), effect)

    return handler


for _kind in GUESTS:
    handles("POST", f"/pve/remotes/{{remote}}/{_kind}/{{vmid}}/migrate", ("pdm",), finds_own_objects=True)(
        _migrate(_kind)
    )
    handles("POST", f"/pve/remotes/{{remote}}/{_kind}/{{vmid}}/remote-migrate", ("pdm",), finds_own_objects=True)(
        _remote_migrate(_kind)
    )


async def _forward_task(call: Call, cfg: dict[str, Any]) -> str:
    """A worker operation on a live remote, at the same place on the remote (a guest's on its node)."""
    tail = call.segments[3:]
    if tail[0] in GUESTS:
        res = await live_guest(call, cfg, tail[0])
        tail = ["nodes", res["node"], *tail]
    params = {k: v for k, v in call.args.items() if k not in call.params}
    upid = await remote_calls(call.world).send(cfg, call.method, "/" + "/".join(tail), params)
    return f"{cfg['id']}!{upid}"


def remote_task(call: Call) -> Any:
    """Any other remote operation that runs as a task: forwarded to a live remote, else
    generic behaviour on the declared one."""
    cfg = live_cfg(call)
    if cfg is not None:
        return _forward_task(call, cfg)
    result = generic.handle(call)
    if not isinstance(result, TaskRequest):
        return result
    rid = call.params["remote"]
    node = call.params.get("node") or str(call.args.get("node") or "")
    if node == "localhost" and remote_type(call) == "pbs":
        node = pbs_host(call.store, rid)  # the remote writes its own host name into its UPIDs
    if not node:
        vmid = call.params.get("vmid")
        kind = "qemu" if "/qemu/" in call.node.path else "lxc"
        guest = (
            next((r for r in resources_of(call.store, rid) if r["type"] == kind and str(r["vmid"]) == str(vmid)), None)
            if vmid
            else None
        )
        node = (
            guest["node"]
            if guest
            else (
                pbs_host(call.store, rid)
                if remote_type(call) == "pbs"
                else default_node_name(remote_cfg(call.store, rid), rid)
            )
        )
    task_type = result.type
    if call.method == "DELETE" and task_type.endswith("snapshot"):
        task_type = task_type[:2] + "delsnapshot"
    request = _remote_request(call, node, task_type, result.id or str(call.params.get("vmid", "")), result.effect)
    return request


# The remaining worker operations on remotes (PDM answers them with the remote's UPID).
REMOTE_TASKS = (
    ("POST", "/pbs/remotes/{remote}/nodes/{node}/apt/update"),
    ("POST", "/pve/remotes/{remote}/nodes/{node}/apt/update"),
    ("POST", "/pve/remotes/{remote}/qemu/{vmid}/snapshot"),
    ("DELETE", "/pve/remotes/{remote}/qemu/{vmid}/snapshot/{snapname}"),
    ("POST", "/pve/remotes/{remote}/qemu/{vmid}/snapshot/{snapname}/rollback"),
    ("POST", "/pve/remotes/{remote}/lxc/{vmid}/snapshot"),
    ("DELETE", "/pve/remotes/{remote}/lxc/{vmid}/snapshot/{snapname}"),
    ("POST", "/pve/remotes/{remote}/lxc/{vmid}/snapshot/{snapname}/rollback"),
)
for _method, _template in REMOTE_TASKS:
    handles(_method, _template, ("pdm",), finds_own_objects=True)(remote_task)
