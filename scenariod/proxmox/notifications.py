"""Webhook notification endpoints (PVE and PBS share proxmox-notify): secrets kept, never answered.

proxmox-notify keeps each secret as a property string `name=NAME,value=BASE64` and answers only
`name=NAME` wherever it returns an endpoint's configuration. An update sends every secret to keep;
one sent by name alone keeps the value stored under that name, one left out is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import generic
from . import handles

if TYPE_CHECKING:
    from ..world import Call

WEBHOOKS = {"pve": "/cluster/notifications/endpoints/webhook", "pbs": "/config/notifications/endpoints/webhook"}


def _fields(secret: Any) -> dict[str, str]:
    """A secret's property string as its fields (`name`, `value`)."""
    out = {}
    for part in str(secret).split(","):
        key, eq, value = part.partition("=")
        if eq:
            out[key.strip()] = value.strip()
    return out


def _public(item: Any) -> Any:
    """An endpoint as proxmox-notify answers it: each secret by its name only."""
    if not isinstance(item, dict) or not isinstance(item.get("secret"), list):
        return item
    return {**item, "secret": [f"name={_fields(s).get('name', '')}" for s in item["secret"]]}


def list_webhooks(call: Call) -> list[Any]:
    return [_public(item) for item in call.store.items(call.segments)]


def read_webhook(call: Call) -> Any:
    return _public(generic.handle(call))


def update_webhook(call: Call) -> Any:
    """Secrets sent by name alone keep their stored value."""
    sent = call.args.get("secret")
    if isinstance(sent, list):
        stored = call.store.get(call.segments)
        kept = {
            f.get("name"): f.get("value")
            for f in map(_fields, stored.get("secret", []) if isinstance(stored, dict) else [])
        }
        merged = []
        for secret in sent:
            fields = _fields(secret)
            if "value" not in fields and kept.get(fields.get("name")) is not None:
                fields["value"] = str(kept[fields.get("name")])
            merged.append(",".join(f"{k}={v}" for k, v in fields.items()))
        call.args["secret"] = merged
    return generic.handle(call)


for _service, _path in WEBHOOKS.items():
    handles("GET", _path, (_service,), stable=True)(list_webhooks)
    handles("GET", _path + "/{name}", (_service,), stable=True)(read_webhook)
    handles("PUT", _path + "/{name}", (_service,))(update_webhook)
