"""`scenariod snapshot` reads no more than the copy needs: what the copy answers from what it
read (a volume's attributes, a shared storage's content on a second node) is not read, and
still answers the same in the copy. Also: its pace defaults, and a copy that warns loading
without the exact (slow) reading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import SCENARIOS, Running, start_service
from test_snapshot import snapshot, without_digest

from scenariod.scenario import check_files, compile, load_scenario
from scenariod.snapshot import LOOPBACK, POLITE, Options, pace


def content_answers(running: Running) -> dict[str, Any]:
    """Every node's content of every storage, and each listed volume's attributes."""
    out: dict[str, Any] = {}
    for node in running.client.get("/nodes").json()["data"]:
        name = node["node"]
        for storage in running.client.get(f"/nodes/{name}/storage").json()["data"]:
            path = f"/nodes/{name}/storage/{storage['storage']}/content"
            r = running.client.get(path)
            out[path] = (r.status_code, without_digest(r.json()["data"]))
            for entry in r.json()["data"] or ():
                vol = running.client.get(f"{path}/{entry['volid']}")
                out[f"{path}/{entry['volid']}"] = (vol.status_code, vol.json()["data"])
    return out


def test_derived_reads_skipped_and_answered_the_same(tmp_path: Path) -> None:
    source, stop_source = start_service(SCENARIOS / "two-node.yaml", tls=True)
    try:
        source.login()
        source.service.world.journal.clear()
        out = snapshot(source, tmp_path)
        read = [e.path for e in source.service.world.journal if e.method == "GET"]
        want = content_answers(source)
    finally:
        stop_source()
    # ceph-vm is shared (two-node.yaml): its content is read on one node of the two
    assert len([p for p in read if p.endswith("/storage/ceph-vm/content")]) == 1
    assert len([p for p in read if p.endswith("/storage/local/content")]) == 2  # local: on each node
    assert not [p for p in read if "/content/" in p]  # no volume's attributes
    assert len(read) == len(set(read))  # nothing read twice
    assert any("ceph-vm:vm-" in p for p in want)  # guest disks on the shared storage are compared
    copy, stop_copy = start_service(out, tls=True)
    try:
        copy.login("root@pam", "any")
        got = content_answers(copy)
    finally:
        stop_copy()
    assert got == want


def test_pace_defaults_polite_for_clusters_open_on_loopback() -> None:
    assert pace(Options(url="https://pve1.example.com:8006")) == POLITE == (4, 1000.0)
    assert pace(Options(url="https://10.0.0.5:8006")) == POLITE
    for local in ("https://127.0.0.1:8006", "https://localhost:8007", "https://[::1]:8443"):
        assert pace(Options(url=local)) == LOOPBACK
    assert pace(Options(url="https://127.0.0.1:8006", concurrency=2, rate=50)) == (2, 50)  # given: kept
    assert pace(Options(url="https://pve1:8006", rate=0)) == (4, 0)


WARNS = "scenariod: 1\nname: warns\nstate:\n  /nodes:\n    - {node: pve1, rack: r12}\n"


def test_a_file_that_only_warns_loads_without_the_exact_reading(tmp_path: Path, monkeypatch: Any) -> None:
    """A snapshot's copy warns on every field its source answers beyond the API description;
    serving it must not wait for ruamel.yaml to place warnings nobody is shown (minutes at
    10,000 guests). `check` places them without it too, reading the one state entry."""
    path = tmp_path / "warns.yaml"
    path.write_text(WARNS)
    [warning] = check_files([path], warnings=True)
    assert (warning.line, warning.column, warning.warning) == (5, 20, True)

    def exact(self: Any) -> bool:
        raise AssertionError("the exact reading was used")

    monkeypatch.setattr(compile.FileCompiler, "parse", exact)
    monkeypatch.setenv("SCENARIOD_CACHE", str(tmp_path / "cache"))  # no memo: the fast reading itself
    assert load_scenario(path).warnings == ()
    [placed] = load_scenario(path, warnings=True).warnings
    assert placed == warning
