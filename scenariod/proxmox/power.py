"""One guest power table: what each `status/*` action needs, does and refuses, for every guest.

PVE's guests (`guests.py`) and PDM's remote guests (`pdm/operations.py`) read it alike: PDM
forwards a guest action to the remote PVE, which answers as it answers its own clients.

Facts behind the table (qemu-server, pve-container):
- qemu `stop` and `shutdown` of a stopped VM: `vm_stop` finds no process and returns, so
  the worker ends OK;
- lxc `stop` and `shutdown` of a stopped CT: the API refuses before forking a worker
  (`CT 200 not running`, an error answer, no task);
- `start` of a running guest: the worker ends in error (`VM 100 already running`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import wire


@dataclass(frozen=True, slots=True)
class PowerAction:
    """One power call: the status it ends in and the statuses it runs from."""

    target: str  # the status the guest ends in
    needs: tuple[str, ...] = ()  # the statuses the action runs from (empty: any)
    refusal: Callable[[str, Any], str] | None = None  # wire wording (kind, vmid) when not in `needs`
    early: bool = False  # refused before a worker starts (an error answer), not inside it
    qmpstatus: str | None = None  # qemu: the QMP status it ends in, when not the status itself


_START = PowerAction("running", ("stopped",), wire.guest_already_running)
_REBOOT = PowerAction("running", ("running",), wire.guest_not_running)

POWER: dict[tuple[str, str], PowerAction] = {
    ("qemu", "start"): _START,
    ("qemu", "stop"): PowerAction("stopped"),
    ("qemu", "shutdown"): PowerAction("stopped"),
    ("qemu", "reboot"): _REBOOT,
    ("qemu", "reset"): _REBOOT,
    ("qemu", "suspend"): PowerAction("running", ("running",), wire.guest_not_running, qmpstatus="paused"),
    ("qemu", "resume"): PowerAction("running", ("paused",), wire.guest_not_paused, qmpstatus="running"),
    ("lxc", "start"): _START,
    ("lxc", "stop"): PowerAction("stopped", ("running", "paused"), wire.guest_not_running, early=True),
    ("lxc", "shutdown"): PowerAction("stopped", ("running", "paused"), wire.guest_not_running, early=True),
    ("lxc", "reboot"): _REBOOT,
    ("lxc", "suspend"): PowerAction("running", ("running",), wire.guest_not_running, qmpstatus="paused"),
    ("lxc", "resume"): PowerAction("running", ("paused",), wire.guest_not_paused, qmpstatus="running"),
}


def refusal(kind: str, action: str, vmid: Any, current: str) -> str | None:
    """What PVE answers when `action` finds the guest `current`; None when it goes ahead.

    Raises the refusal as an error answer when PVE refuses before starting a worker.
    """
    act = POWER[(kind, action)]
    if not act.needs or current in act.needs or act.refusal is None:
        return None
    text = act.refusal(kind, vmid)
    if act.early:
        raise wire.ApiError(500, text)
    return text
