"""A realistic default node: what a freshly installed PVE node answers about itself.

Every node of the scenario (or the default `pve`) gets its NICs and `vmbr0`, disks, no
subscription, packages and pending updates, repositories, services, PCI and USB devices,
DNS and hosts, CPU models and machine types, and the appliance index, as state (so that
writes such as `PUT .../dns` work as on any path, and anything the scenario seeds wins).
What moves with the clock (time, syslog, journal; rrddata in rrd.py) is computed per request; the
certificate is the one the scenario serves. Ceph answers as a node where it is not
installed until the scenario seeds it; HA status names only nodes that exist.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .. import generic, wire
from ..clock import clock
from ..state import MISSING
from . import handles, node_data, prepares
from .rrd import wave

if TYPE_CHECKING:
    from ..scenario.model import Scenario
    from ..state import StateStore
    from ..world import Call, World

GiB = node_data.GiB
ALL = ("pve", "pbs", "pdm")  # the node reads the three products share
CERTIFICATE_FILES = {"pve": "pve-ssl.pem", "pbs": "proxy.pem", "pdm": "api.pem"}


def _hex(seed: int, *parts: Any, length: int = 16) -> str:
    text = ":".join(str(p) for p in (seed, *parts))
    return hashlib.blake2b(text.encode(), digest_size=(length + 1) // 2).hexdigest()[:length]


def node_address(index: int) -> str:
    """The node's address on vmbr0 (the nth node of the scenario, from 0)."""
    net = node_data.NETWORK
    return f"{net['prefix']}.{int(net['first_host']) + index}"


# --- state of a fresh node ---------------------------------------------------------------------


@prepares("pve")
def default_nodes(world: World, scenario: Scenario) -> None:
    store = world.store
    for index, name in enumerate(store.keys("/nodes")):
        fill_node(store, scenario.seed, name, index, scenario.api.facts)


def release_packages(facts: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The package list with the served release's manager, meta package and kernel.

    The other packages keep the versions of the newest release (node_data.PACKAGES).
    """
    version = str(facts.get("version", "9.2.0"))
    kernel = str(facts.get("kernel", ["6.14.8-2-pve"])[0]).removesuffix("-pve")
    major, minor = version.replace("-", ".").split(".")[:2]
    series = ".".join(kernel.split(".")[:2])
    kernel_package = f"pve-kernel-{series}" if int(major) < 8 else f"proxmox-kernel-{series}"
    meta = f"{major}.{minor}-1" if int(major) < 8 else f"{major}.{minor}.0"
    own = (
        ("proxmox-ve", meta, "Proxmox Virtual Environment"),
        ("pve-manager", version, "Proxmox Virtual Environment Management Tools"),
        (kernel_package, kernel, "Latest Proxmox Kernel Image"),
    )
    replaced = {"proxmox-ve", "pve-manager"}
    return own + tuple(p for p in node_data.PACKAGES if p[0] not in replaced and "kernel" not in p[0])


def release_updates(facts: dict[str, Any]) -> tuple[tuple[str, str, str, str], ...]:
    """Pending upgrades: the next point release of the manager, and node_data's others."""
    version = str(facts.get("version", "9.2.0"))
    head, sep, last = version.rpartition("-" if "-" in version else ".")
    following = f"{head}{sep}{int(last) + 1}" if last.isdigit() else version
    own = ("pve-manager", version, following, "Proxmox Virtual Environment Management Tools")
    return (own, *(u for u in node_data.UPDATES if u[0] != "pve-manager"))


def fill_node(store: StateStore, seed: int, name: str, index: int, facts: dict[str, Any] | None = None) -> None:
    """A fresh node's state under /nodes/{name}, where the scenario seeded none."""
    facts = facts or {}
    base = ("nodes", name)
    _fill_items(store, (*base, "network"), "iface", _network(store, name, index))
    _fill_items(store, (*base, "services"), "service", services(node_data.SERVICES))
    _fill_items(store, (*base, "hardware", "pci"), "id", [dict(d) for d in node_data.PCI_DEVICES])
    for svc in store.keys((*base, "services")):
        store.setdefault((*base, "services", svc, "state"), store.get((*base, "services", svc)))
    leaves: dict[tuple[str, ...], Any] = {
        ("disks", "list"): _disks(seed, name),
        ("subscription",): subscription(seed, name),
        ("apt", "versions"): versions(release_packages(facts), str(facts.get("kernel", ["6.14.8-2-pve"])[0])),
        ("apt", "update"): updates(release_updates(facts)),
        ("apt", "repositories"): _repositories(),
        ("hardware", "usb"): [dict(d) for d in node_data.USB_DEVICES],
        ("dns",): dict(node_data.DNS),
        ("hosts",): {"data": _hosts(name, index)},
        ("capabilities", "qemu", "cpu"): _cpu_models(),
        ("capabilities", "qemu", "machines"): _machines(),
        ("aplinfo",): _appliances(seed),
        ("report",): _report(name),
    }
    for path, value in leaves.items():
        store.setdefault((*base, *path), value)


def _fill_items(store: StateStore, path: tuple[str, ...], key: str, items: list[dict[str, Any]]) -> None:
    if store.keys(path):
        return
    for item in items:
        store.set((*path, str(item[key])), item)


def _network(store: StateStore, name: str, index: int) -> list[dict[str, Any]]:
    node = store.get(("nodes", name))
    address = (node.get("ip") if isinstance(node, dict) else None) or node_address(index)
    net = node_data.NETWORK
    nics = [
        {
            "iface": nic,
            "type": "eth",
            "method": "manual",
            "method6": "manual",
            "families": ["inet"],
            "exists": 1,
            "active": int(i == 0),
            "priority": 3 + i,
        }
        for i, nic in enumerate(node_data.NICS)
    ]
    bridge = {
        "iface": node_data.BRIDGE,
        "type": "bridge",
        "method": "static",
        "method6": "manual",
        "families": ["inet"],
        "address": address,
        "netmask": str(net["bits"]),
        "cidr": f"{address}/{net['bits']}",
        "gateway": net["gateway"],
        "bridge_ports": node_data.NICS[0],
        "bridge_stp": "off",
        "bridge_fd": "0",
        "active": 1,
        "autostart": 1,
        "priority": 5,
    }
    return [*nics, bridge]


def services(units: tuple[tuple[str, str, bool], ...]) -> list[dict[str, Any]]:
    """systemd units as `GET /nodes/{node}/services` lists them."""
    return [
        {
            "service": svc,
            "name": svc,
            "desc": desc,
            "state": "running" if running else "dead",
            "active-state": "active" if running else "inactive",
            "unit-state": "enabled" if running else "disabled",
        }
        for svc, desc, running in units
    ]


_BUS = {"nvme": "nvme", "ssd": "ata", "hdd": "ata"}


def _disks(seed: int, name: str) -> list[dict[str, Any]]:
    out = []
    for disk in node_data.DISKS:
        serial = _hex(seed, name, disk["devpath"], length=14).upper()
        out.append(
            {
                **disk,
                "health": "PASSED",
                "serial": f"S{serial}",
                "wwn": f"0x5002538{_hex(seed, 'wwn', name, disk['devpath'], length=9)}",
                "by_id_link": f"/dev/disk/by-id/{_BUS[disk['type']]}-{disk['model']}_S{serial}",
                "osdid": -1,
                "osdid-list": None,
                "mounted": 0,
            }
        )
    return out


def subscription(seed: int, name: str, product: str = "pve") -> dict[str, Any]:
    """No subscription key: what `GET .../subscription` answers on a fresh install (PBS's and
    PDM's SubscriptionInfo has no `sockets`: they are licensed per host, not per socket)."""
    out: dict[str, Any] = {
        "status": "notfound",
        "message": "There is no subscription key",
        "serverid": _hex(seed, "serverid", name, length=32).upper(),
        "url": node_data.PRICING_URLS[product],
    }
    if product == "pve":
        out["sockets"] = 1
    return out


def _package(package: str, version: str, title: str) -> dict[str, Any]:
    return {
        "Package": package,
        "Version": version,
        "Title": title,
        "Description": title,
        "Origin": "Proxmox",
        "Section": "admin",
        "Priority": "optional",
        "Arch": "amd64",
    }


def versions(packages: tuple[tuple[str, str, str], ...], kernel: str = "", pve: bool = True) -> list[dict[str, Any]]:
    """Installed packages as `GET /nodes/{node}/apt/versions` lists them (`kernel`: the running one;
    PBS's and PDM's APTUpdateInfo has no `CurrentState`, `ManagerVersion` or `RunningKernel`)."""
    state = {"CurrentState": "Installed"} if pve else {}
    out = []
    for package, version, title in packages:
        item = {**_package(package, version, title), **state, "OldVersion": version}
        if pve and package == "pve-manager":
            item["ManagerVersion"] = version
        if pve and package == "proxmox-ve":
            item["RunningKernel"] = kernel
        out.append(item)
    return out


def updates(pending: tuple[tuple[str, str, str, str], ...], pve: bool = True) -> list[dict[str, Any]]:
    """Pending upgrades as `GET /nodes/{node}/apt/update` lists them (`NotifyStatus` is PVE's alone)."""
    out = []
    for package, old, new, title in pending:
        item = {**_package(package, new, title), "OldVersion": old}
        if pve:
            item["NotifyStatus"] = new
        out.append(item)
    return out


def _repositories() -> dict[str, Any]:
    repos = [{**r, "Comment": ""} for r in node_data.REPOSITORIES]
    return {
        "files": [{"path": node_data.REPOSITORY_FILE, "file-type": "sources", "repositories": repos, "digest": []}],
        "errors": [],
        "infos": [],
        "standard-repos": [dict(r) for r in node_data.STANDARD_REPOS],
    }


def _hosts(name: str, index: int) -> str:
    domain = node_data.DOMAIN
    return (
        f"127.0.0.1 localhost.localdomain localhost\n{node_address(index)} {name}.{domain} {name}\n\n"
        "# The following lines are desirable for IPv6 capable hosts\n\n"
        "::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\n"
        "ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\nff02::3 ip6-allhosts\n"
    )


def _cpu_models() -> list[dict[str, Any]]:
    return [{"name": n, "vendor": v, "custom": 0} for n, v in node_data.CPU_MODELS]


def _machines() -> list[dict[str, Any]]:
    out = []
    for kind, prefix in (("q35", "pc-q35"), ("i440fx", "pc-i440fx")):
        for version in node_data.MACHINE_VERSIONS:
            out.append({"id": f"{prefix}-{version}", "type": kind, "version": version})
    return out


def _appliances(seed: int) -> list[dict[str, Any]]:
    out = []
    for app in node_data.APPLIANCES:
        file = app["file"]
        template = file.rsplit("/", 1)[-1]
        out.append(
            {
                "os": app["os"],
                "package": app["package"],
                "version": app["version"],
                "headline": app["headline"],
                "description": app["headline"],
                "section": app["section"],
                "type": "lxc",
                "template": template,
                "location": f"{node_data.APPLIANCES_URL}/{file}",
                "infopage": "https://www.turnkeylinux.org/"
                if app["section"] == "turnkeylinux"
                else "https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions",
                "source": f"{node_data.APPLIANCES_URL}/{file}",
                "sha512sum": hashlib.sha512(f"{seed}:{template}".encode()).hexdigest(),
                "maintainer": "Proxmox Support Team <support@proxmox.com>",
                "architecture": "amd64",
                "manageurl": "",
            }
        )
    return out


def _report(name: str) -> str:
    return (
        "==== general system info ====\n\n"
        f"# hostname\n{name}\n\n"
        "# pveversion --verbose\n"
        + "".join(f"{pkg}: {ver}\n" for pkg, ver, _ in node_data.PACKAGES)
        + "\n==== info about storage ====\n\n# cat /etc/pve/storage.cfg\n"
        "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\n"
        "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n"
    )


# --- what moves with the clock -----------------------------------------------------------------


@handles("GET", "/nodes/{node}/time", ALL)
def node_time(call: Call) -> Any:
    stored = call.store.get(("nodes", call.params["node"], "time"))
    zone = stored.get("timezone") if isinstance(stored, dict) else None
    zone = str(zone or node_data.TIMEZONE)
    now = int(clock(call.world))
    from zoneinfo import ZoneInfo  # lazy for start-up speed: zoneinfo (and sysconfig) cost each start ~2 ms

    try:
        offset = ZoneInfo(zone).utcoffset(datetime.fromtimestamp(now))
    except (KeyError, ValueError):  # a timezone the scenario wrote that zoneinfo does not know
        offset = None
    return {"timezone": zone, "time": now, "localtime": now + int(offset.total_seconds() if offset else 0)}


def _log_lines(call: Call, count: int) -> list[str]:
    """The last `count` lines of the node's log, one a minute up to now."""
    name = call.params["node"]
    if name == "localhost":  # PBS and PDM: the host itself
        name = next((k for k in call.store.keys("/nodes") if k != "localhost"), name)
    now = int(clock(call.world)) // 60 * 60
    lines = []
    for i in range(count):
        t = now - (count - 1 - i) * 60
        unit, text = node_data.LOG_UNITS[int(wave(call.scenario.seed, "log", t) * len(node_data.LOG_UNITS))]
        pid = 1000 + t % 5000
        stamp = time.strftime("%b %d %H:%M:%S", time.gmtime(t))
        lines.append(f"{stamp} {name} {unit.format(pid=pid)}: {text.format(pid2=pid + 1)}")
    return lines


@handles("GET", "/nodes/{node}/syslog", ALL)
def node_syslog(call: Call) -> Any:
    start = int(call.args.get("start", 0) or 0)
    limit = int(call.args.get("limit", 50) or 50)
    lines = _log_lines(call, 200)[start : start + limit]
    return [{"n": start + i + 1, "t": line} for i, line in enumerate(lines)]


@handles("GET", "/nodes/{node}/journal", ALL)
def node_journal(call: Call) -> Any:
    count = int(call.args.get("lastentries", 50) or 50)
    return _log_lines(call, min(count, 500))


# --- the certificate the scenario serves -------------------------------------------------------


@handles("GET", "/nodes/{node}/certificates/info", ALL, stable=True)
def certificates_info(call: Call) -> Any:
    stored = call.store.get(("nodes", call.params["node"], "certificates", "info"))
    if stored is not MISSING:
        return stored
    listen = call.scenario.listen
    if listen.cert:
        pem_file = listen.cert
    else:
        from ..tls import ensure_certificate  # start-up speed: only a certificate read needs it

        _, cert_file, _ = ensure_certificate(listen.host or "127.0.0.1")
        pem_file = str(cert_file)
    return [{**_certificate(pem_file), "filename": CERTIFICATE_FILES[call.scenario.service]}]


@lru_cache(maxsize=8)
def _certificate(pem_file: str) -> dict[str, Any]:
    # start-up speed: cryptography is imported only when a certificate is described
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa

    with open(pem_file, "rb") as fh:
        pem = fh.read()
    cert = x509.load_pem_x509_certificate(pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [f"DNS:{n}" for n in san.get_values_for_type(x509.DNSName)]
        names += [f"IP Address:{a}" for a in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    key = cert.public_key()
    return {
        "fingerprint": ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256())),
        "subject": _openssl_name(cert.subject),
        "issuer": _openssl_name(cert.issuer),
        "notbefore": int(cert.not_valid_before_utc.timestamp()),
        "notafter": int(cert.not_valid_after_utc.timestamp()),
        "san": names,
        "public-key-type": "rsaEncryption" if isinstance(key, rsa.RSAPublicKey) else "id-ecPublicKey",
        "public-key-bits": getattr(key, "key_size", 256),
        "pem": pem.decode(),
    }


def _openssl_name(name: Any) -> str:
    """`/O=.../CN=...`: how PVE prints a certificate's subject and issuer (openssl's order)."""
    return "".join(f"/{attr.rfc4514_string()}" for attr in name)


# --- what is not configured on a fresh node -----------------------------------------------------

# Every Ceph read PVE answers only once Ceph is installed (PVE::Ceph::Tools::check_ceph_inited).
CEPH_READS = (
    "/cluster/ceph/metadata",
    "/cluster/ceph/status",
    "/cluster/ceph/flags",
    "/cluster/ceph/flags/{flag}",
    "/nodes/{node}/ceph/cfg/raw",
    "/nodes/{node}/ceph/cfg/db",
    "/nodes/{node}/ceph/cfg/value",
    "/nodes/{node}/ceph/osd",
    "/nodes/{node}/ceph/osd/{osdid}/metadata",
    "/nodes/{node}/ceph/osd/{osdid}/lv-info",
    "/nodes/{node}/ceph/mds",
    "/nodes/{node}/ceph/mgr",
    "/nodes/{node}/ceph/mon",
    "/nodes/{node}/ceph/fs",
    "/nodes/{node}/ceph/pool",
    "/nodes/{node}/ceph/pool/{name}/status",
    "/nodes/{node}/ceph/status",
    "/nodes/{node}/ceph/crush",
    "/nodes/{node}/ceph/log",
    "/nodes/{node}/ceph/rules",
    "/nodes/{node}/ceph/cmd-safety",
)


def ceph_installed(store: StateStore) -> bool:
    """Ceph counts as installed once the scenario seeds anything of it (cluster- or node-wide)."""
    if store.keys("/cluster/ceph"):
        return True
    return any(store.keys(("nodes", name, "ceph")) for name in store.keys("/nodes"))


def ceph_read(call: Call) -> Any:
    if not call.world.cached("ceph-installed", lambda: ceph_installed(call.store)):
        raise wire.ApiError(500, wire.CEPH_NOT_INSTALLED)
    return generic.handle(call)


for _template in CEPH_READS:
    handles("GET", _template)(ceph_read)


@handles("GET", "/cluster/ha/status/current")
def ha_status(call: Call) -> Any:
    """The HA stack's view (PVE::API2::HA::Status): quorum as the local node sees it, then,
    once resources exist, the CRM master, each node's LRM (busy with services: `active`, else
    `idle`; an offline node's status is stale) and each service, naming only nodes that exist."""
    stored = call.store.get("/cluster/ha/status/current")
    if stored is not MISSING:
        return stored
    store = call.store
    nodes = store.items("/nodes")
    online = [n["node"] for n in nodes if n.get("status", "online") == "online"]
    local = online[0] if online else (nodes[0]["node"] if nodes else "pve")
    quorate = int(len(online) * 2 > len(nodes))
    out: list[dict[str, Any]] = [
        {
            "id": "quorum",
            "type": "quorum",
            "node": local,
            "status": "OK" if quorate else f"No quorum on node '{local}'!",
            "quorate": quorate,
        }
    ]
    resources = store.items("/cluster/ha/resources")
    if not resources:
        return out
    now = int(clock(call.world))
    stamp = time.ctime(now)
    services = []
    for res in resources:
        sid = str(res.get("sid", ""))
        node = _guest_node(store, sid) or local
        state = str(res.get("state", "started"))
        services.append(
            {
                "id": f"service:{sid}",
                "type": "service",
                "sid": sid,
                "node": node,
                "crm_state": state,
                "state": state,
                "request_state": state,
                "status": f"{sid} ({node}, {state})",
                **{k: res[k] for k in ("group", "max_restart", "max_relocate", "failback", "comment") if k in res},
            }
        )
    busy = {s["node"] for s in services if s["state"] == "started"}
    out.append(
        {"id": "master", "type": "master", "node": local, "status": f"{local} (active, {stamp})", "timestamp": now}
    )
    for n in sorted(nodes, key=lambda n: n["node"]):
        name = n["node"]
        if n.get("status", "online") != "online":
            state = "old timestamp - dead?"
        else:
            state = "active" if name in busy else "idle"
        out.append(
            {"id": f"lrm:{name}", "type": "lrm", "node": name, "status": f"{name} ({state}, {stamp})", "timestamp": now}
        )
    return out + sorted(services, key=lambda s: s["sid"])


def _guest_node(store: StateStore, sid: str) -> str | None:
    vmid = sid.rsplit(":", 1)[-1]
    for name in store.keys("/nodes"):
        for kind in ("qemu", "lxc"):
            if store.has(("nodes", name, kind, vmid)):
                return name
    return None
