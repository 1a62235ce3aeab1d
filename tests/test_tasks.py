"""Worker tasks over real HTTP: scripted durations, logs over time, exit status, lists, stop."""

from __future__ import annotations

import time

from scenariod.wire import parse_upid

SCRIPTED = """
scenariod: 1
name: tasks
auth: {{mode: none}}
time_scale: {scale}
state:
  /nodes:
    - {{node: pve1}}
  /nodes/pve1/qemu:
    - {{vmid: 100, name: web-01, status: stopped}}
tasks:
  - when: POST /nodes/{{node}}/qemu/{{vmid}}/status/start
    duration: 1s
    log:
      - "starting VM ${{params.vmid}} on ${{params.node}}"
      - {{at: 0.5s, line: "  boot ok"}}
  - when: POST /nodes/{{node}}/qemu/{{vmid}}/status/shutdown
    duration: 0.2s
    exitstatus: "VM quit/powerdown failed - got timeout"
  - when: PUT /nodes/{{node}}/qemu/{{vmid}}/config
    duration: 0.2s
    type: qmconfig
"""


def scripted(scale: float = 1.0) -> str:
    return SCRIPTED.format(scale=scale)


def wait(s, upid: str, timeout: float = 5.0) -> dict:
    node = parse_upid(upid)["node"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = s.client.get(f"/nodes/{node}/tasks/{upid}/status").json()["data"]
        if status["status"] == "stopped":
            return status
        time.sleep(0.05)
    raise AssertionError(f"task {upid} still running")


def test_upid_format_and_status_fields(serve):
    s = serve(scripted())
    upid = s.client.post("/nodes/pve1/qemu/100/status/start").json()["data"]
    fields = parse_upid(upid)
    assert upid.split(":")[2] == f"{fields['pid']:08X}" and upid.split(":")[4] == f"{fields['starttime']:08X}"
    assert fields["type"] == "qmstart" and fields["id"] == "100" and fields["user"] == "root@pam"
    status = s.client.get(f"/nodes/pve1/tasks/{upid}/status").json()["data"]
    assert status["status"] == "running" and "exitstatus" not in status
    assert {"upid", "node", "pid", "pstart", "starttime", "type", "id", "user"} <= status.keys()


def test_log_lines_appear_over_time_and_effect_lands_at_the_end(serve):
    s = serve(scripted())
    upid = s.client.post("/nodes/pve1/qemu/100/status/start").json()["data"]
    first = s.client.get(f"/nodes/pve1/tasks/{upid}/log").json()
    assert first["data"] == [{"n": 1, "t": "starting VM 100 on pve1"}] and first["total"] == 1
    assert s.client.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "stopped"
    time.sleep(0.6)
    assert [line["t"] for line in s.client.get(f"/nodes/pve1/tasks/{upid}/log").json()["data"]] == [
        "starting VM 100 on pve1",
        "  boot ok",
    ]
    assert wait(s, upid)["exitstatus"] == "OK"
    assert s.client.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "running"
    log = s.client.get(f"/nodes/pve1/tasks/{upid}/log", params={"start": 1, "limit": 5}).json()
    assert log == {"data": [{"n": 2, "t": "  boot ok"}, {"n": 3, "t": "TASK OK"}], "total": 3}


def test_failed_exitstatus_leaves_state_alone(serve):
    s = serve(scripted())
    wait(s, s.client.post("/nodes/pve1/qemu/100/status/start").json()["data"])
    upid = s.client.post("/nodes/pve1/qemu/100/status/shutdown").json()["data"]
    status = wait(s, upid)
    assert status["exitstatus"] == "VM quit/powerdown failed - got timeout"
    assert s.client.get(f"/nodes/pve1/tasks/{upid}/log").json()["data"][-1]["t"] == (
        "TASK ERROR: VM quit/powerdown failed - got timeout"
    )
    assert s.client.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "running"


def test_a_task_rule_makes_a_synchronous_call_a_task(serve):
    s = serve(scripted())
    upid = s.client.put("/nodes/pve1/qemu/100/config", data={"cores": 3}).json()["data"]
    assert ":qmconfig:100:" in upid
    assert s.client.get("/nodes/pve1/qemu/100/config").json()["data"].get("cores") != 3
    wait(s, upid)
    assert s.client.get("/nodes/pve1/qemu/100/config").json()["data"]["cores"] == 3


def test_time_scale_zero_finishes_at_once(serve):
    s = serve(scripted(0))
    upid = s.client.post("/nodes/pve1/qemu/100/status/start").json()["data"]
    assert s.client.get(f"/nodes/pve1/tasks/{upid}/status").json()["data"]["exitstatus"] == "OK"
    assert s.client.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "running"


def test_stopping_a_task_and_task_lists(serve):
    s = serve(scripted())
    upid = s.client.post("/nodes/pve1/qemu/100/status/start").json()["data"]
    running = s.client.get("/nodes/pve1/tasks", params={"source": "active"}).json()
    assert [t["upid"] for t in running["data"]] == [upid] and running["total"] == 1
    assert s.client.delete(f"/nodes/pve1/tasks/{upid}").status_code == 200
    status = s.client.get(f"/nodes/pve1/tasks/{upid}/status").json()["data"]
    assert status["status"] == "stopped" and status["exitstatus"] != "OK"
    assert s.client.get("/nodes/pve1/qemu/100/status/current").json()["data"]["status"] == "stopped"
    listed = s.client.get("/nodes/pve1/tasks", params={"typefilter": "qmstart", "errors": 1}).json()["data"]
    assert [t["upid"] for t in listed] == [upid] and listed[0]["endtime"] >= listed[0]["starttime"]
    assert s.client.get("/nodes/pve1/tasks", params={"vmid": 999}).json()["data"] == []
    assert upid in [t["upid"] for t in s.client.get("/cluster/tasks").json()["data"]]
    assert s.client.get("/nodes/pve1/tasks/UPID:pve1:00000001:00000001:00000001:x:y:z:/status").status_code == 500


def test_default_tasks_need_no_script(serve):
    s = serve("scenariod: 1\nname: t\nauth: {mode: none}\nstate:\n  /nodes: [{node: pve1}]\n")
    upid = s.client.post("/nodes/pve1/qemu", data={"vmid": 120, "name": "made"}).json()["data"]
    assert wait(s, upid)["exitstatus"] == "OK"
    assert s.client.get(f"/nodes/pve1/tasks/{upid}/log").json()["data"][-1]["t"] == "TASK OK"
    assert s.client.get("/nodes/pve1/qemu/120/config").json()["data"]["name"] == "made"
