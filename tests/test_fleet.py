"""`scenariod fleet`: the generated estate serves, and its parts agree with each other."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import start_service
from ruamel.yaml import YAML

from scenariod.fleet import write_fleet


def _load(path: Path) -> dict:
    return YAML(typ="safe").load(path.read_text())


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("fleet")
    return write_fleet(out, clusters=3, nodes_per_cluster=2, guests_per_cluster=12, pbs=2, pdm=True, seed=7)


def test_fleet_is_deterministic_and_distinct(estate: list[Path], tmp_path: Path) -> None:
    again = write_fleet(tmp_path, clusters=3, nodes_per_cluster=2, guests_per_cluster=12, pbs=2, pdm=True, seed=7)

    def body(path: Path) -> str:  # the header names the directory it was written to
        return path.read_text().split("\nscenariod: 1\n", 1)[1]

    assert [body(p) for p in again] == [body(p) for p in estate]
    docs = [_load(p) for p in estate]
    names = [d["name"] for d in docs]
    ports = [d["listen"]["port"] for d in docs]
    assert len(set(names)) == len(names) == 6 and len(set(ports)) == 6
    vmids, macs, nodes = [], [], []
    for doc in docs[:3]:
        nodes += [n["node"] for n in doc["state"]["/nodes"]]
        for path, value in doc["state"].items():
            if path.endswith("/config"):
                vmids.append(int(path.split("/")[-2]))
                net = value["net0"]
                macs.append(net.split("virtio=")[1].split(",")[0] if "virtio=" in net else net.split("hwaddr=")[1][:17])
    assert len(vmids) == 36 and len(set(vmids)) == 36
    assert len(set(macs)) == 36 and all(m.startswith("BC:24:11:") for m in macs)
    assert len(set(nodes)) == 6


def test_fleet_parts_agree_over_http(estate: list[Path]) -> None:
    """What each VE instance serves is what its PBS holds and what the PDM shows for it."""
    by_name = {p.stem: p for p in estate}
    pdm_doc = _load(by_name["pdm"])
    remotes = {r["id"]: r for r in pdm_doc["state"]["/remotes/remote"]}
    assert set(remotes) == {"ve-01", "ve-02", "ve-03", "pbs-01", "pbs-02"}
    running = {}
    try:
        for name, path in by_name.items():
            running[name] = start_service(path)
        pdm = running["pdm"][0]
        pdm.login()
        for rid in remotes:  # on free ports, plain HTTP: PDM's remotes are moved to where they listen
            moved = pdm.client.put(
                f"/remotes/remote/{rid}", data={"nodes": f"hostname=http://127.0.0.1:{running[rid][0].service.port}"}
            )
            assert moved.status_code == 200, moved.text
        for cluster in ("ve-01", "ve-02", "ve-03"):
            ve = running[cluster][0]
            remote = remotes[cluster]
            # the PDM's token for this remote is accepted by the remote itself
            token = f"PVEAPIToken={remote['authid']}={remote['token']}"
            r = ve.client.get("/cluster/resources", params={"type": "vm"}, headers={"Authorization": token})
            assert r.status_code == 200, r.text
            guests = {(g["vmid"], g["name"], g["node"], g["status"]) for g in r.json()["data"]}
            assert len(guests) == 12
            shown = pdm.client.get(f"/pve/remotes/{cluster}/resources").json()["data"]
            assert {(g["vmid"], g["name"], g["node"], g["status"]) for g in shown if g["type"] in ("qemu", "lxc")} == (
                guests
            )
            # the cluster's backup storage points at a PBS of the estate, with a token it declares
            storage = next(
                s
                for s in ve.client.get("/storage", headers={"Authorization": token}).json()["data"]
                if s["type"] == "pbs"
            )
            pbs_doc = _load(by_name[storage["storage"]])
            assert storage["port"] == pbs_doc["listen"]["port"]
            assert storage["username"] in {t["tokenid"] for t in pbs_doc["auth"]["tokens"]}
            pbs = running[storage["storage"]][0]
            pbs_token = next(t for t in pbs_doc["auth"]["tokens"] if t["tokenid"] == "root@pam!pdm")
            groups = pbs.client.get(
                "/admin/datastore/store1/groups",
                headers={"Authorization": f"PBSAPIToken=root@pam!pdm:{pbs_token['secret']}"},
            )
            assert groups.status_code == 200, groups.text
            backed_up = {int(g["backup-id"]) for g in groups.json()["data"]}
            assert {vmid for vmid, *_ in guests} <= backed_up
    finally:
        for _running, stop in running.values():
            stop()


def test_fleet_runs_as_one_command(tmp_path: Path) -> None:
    """`scenariod fleet` then `scenariod run OUTDIR/*.yaml`: every instance answers on its port."""
    base = random.Random().randrange(31000, 39000, 1000)
    cli = [sys.executable, "-m", "scenariod"]
    made = subprocess.run(
        [*cli, "fleet", str(tmp_path), "--clusters", "2", "--guests-per-cluster", "4", "--pbs", "1", "--pdm"]
        + ["--base-port", str(base)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    files = made.stdout.split()
    assert [Path(f).name for f in files] == ["ve-01.yaml", "ve-02.yaml", "pbs-01.yaml", "pdm.yaml"]
    proc = subprocess.Popen([*cli, "run", "--http", "--no-tui", "--no-reload", *files], stdout=subprocess.PIPE)
    try:
        ports = [base, base + 1, base + 500, base + 999]
        deadline = time.monotonic() + 30
        answered = set()
        while time.monotonic() < deadline and len(answered) < len(ports):
            for port in ports:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                        answered.add(port)
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        assert answered == set(ports)
        services = [httpx.get(f"http://127.0.0.1:{port}/").json()["service"] for port in ports]
        assert services == ["pve", "pve", "pbs", "pdm"]
    finally:
        proc.terminate()
        proc.wait(20)


def test_fleet_refuses_what_it_cannot_make_consistent(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "scenariod", "fleet", str(tmp_path), "--clusters", "100"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "--clusters must be between 1 and 99" in r.stderr
