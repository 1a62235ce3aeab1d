"""scenariod.params: parameter validation as Proxmox does it, over the real API data.

The operations come straight from the API description files (the bundled flat form, or the
API viewer tree in ../shared), so these tests do not depend on apidesc.py.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import pytest

from scenariod.params import WORDING, compile_validator, split_list
from scenariod.params.regexes import perl_pattern, rust_pattern
from scenariod.wire import ApiError

_BUNDLED = Path(__file__).resolve().parent.parent / "scenariod" / "data"
_SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "proxmox-api"


@pytest.fixture(scope="module")
def api() -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """service -> {(path, METHOD): operation info} from the raw description files."""
    return {svc: _load_ops(svc) for svc in ("pve", "pbs", "pdm")}


def _load_ops(service: str) -> dict[tuple[str, str], dict[str, Any]]:
    bundled = _BUNDLED / f"{service}.api.json.gz"
    ops: dict[tuple[str, str], dict[str, Any]] = {}
    if bundled.exists():
        with gzip.open(bundled) as fh:
            data = json.load(fh)
        for entry in data["paths"]:
            for method, info in (entry.get("methods") or {}).items():
                text = info.get("parameters")  # stored as JSON text (tools/regen_apidata.py)
                ops[(entry["path"], method)] = {**info, "parameters": json.loads(text)} if text else info
        return ops
    with gzip.open(_SHARED / f"{service}.apidoc.json.gz") as fh:
        tree = json.load(fh)

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            for method, info in (node.get("info") or {}).items():
                ops[(node["path"], method)] = info
            walk(node.get("children") or [])

    walk(tree if isinstance(tree, list) else [tree])
    return ops


def _validator(api: dict, service: str, path: str, method: str):
    return compile_validator(api[service][(path, method)]["parameters"])


def _errors(validator, raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ApiError) as info:
        validator.validate(raw)
    assert info.value.status == 400
    assert info.value.errors
    return info.value.errors


QEMU = "/nodes/{node}/qemu"
QEMU_CONFIG = "/nodes/{node}/qemu/{vmid}/config"
NOT_DEFINED = WORDING["pve"]["not_defined"]
MISSING = WORDING["pve"]["missing"]


# ---------------------------------------------------------------------------------- PVE ----


def test_pve_create_vm_typed_values(api):
    v = _validator(api, "pve", QEMU, "POST")
    out = v.validate(
        {
            "node": "pve1",
            "vmid": "100",
            "name": "web1",
            "cores": "2",
            "cpulimit": "1.5",
            "onboot": "1",
            "numa": "0",
            "ostype": "l26",
            "net0": "virtio,bridge=vmbr0",
        }
    )
    assert out == {
        "node": "pve1",
        "vmid": 100,
        "name": "web1",
        "cores": 2,
        "cpulimit": 1.5,
        "onboot": 1,
        "numa": 0,
        "ostype": "l26",
        "net0": "virtio,bridge=vmbr0",  # property strings are kept as sent
    }
    assert v.dialect == "pve"


def test_pve_error_is_parameter_verification_failed(api):
    v = _validator(api, "pve", QEMU, "POST")
    with pytest.raises(ApiError) as info:
        v.validate({"node": "pve1", "vmid": "abc"})
    assert info.value.status == 400
    assert info.value.message == "Parameter verification failed."
    assert info.value.errors == {"vmid": "type check ('integer') failed - got 'abc'"}


def test_pve_vmid_below_minimum_fails_the_format_first(api):
    # check_prop runs the format before minimum/maximum: PVE answers with the pve-vmid wording
    v = _validator(api, "pve", QEMU, "POST")
    assert _errors(v, {"node": "pve1", "vmid": "5"}) == {
        "vmid": "invalid format - value does not look like a valid VM ID\n"
    }


def test_pve_minimum_and_maximum(api):
    v = _validator(api, "pve", QEMU_CONFIG, "PUT")
    errors = _errors(v, {"node": "pve1", "vmid": "100", "cores": "0", "cpulimit": "200"})
    assert errors == {
        "cores": "value must have a minimum value of 1",
        "cpulimit": "value must have a maximum value of 128",
    }


def test_pve_missing_required_vmid(api):
    v = _validator(api, "pve", QEMU, "POST")
    assert not api["pve"][(QEMU, "POST")]["parameters"]["properties"]["vmid"].get("optional")
    assert _errors(v, {"node": "pve1"}) == {"vmid": MISSING}


def test_pve_unknown_parameter_rejected(api):
    v = _validator(api, "pve", QEMU, "POST")
    assert _errors(v, {"node": "pve1", "vmid": "100", "bogus": "1"}) == {"bogus": NOT_DEFINED}


def test_pve_all_failures_collected(api):
    v = _validator(api, "pve", QEMU, "POST")
    errors = _errors(v, {"node": "bad_node!", "ostype": "foo", "bogus": "x", "cores": "x"})
    assert set(errors) == {"node", "ostype", "bogus", "cores", "vmid"}
    assert errors["node"] == "invalid format - value does not look like a valid node name\n"
    assert errors["vmid"] == MISSING


def test_pve_enum(api):
    v = _validator(api, "pve", QEMU, "POST")
    enum = api["pve"][(QEMU, "POST")]["parameters"]["properties"]["ostype"]["enum"]
    assert _errors(v, {"node": "pve1", "vmid": "100", "ostype": "foo"}) == {
        "ostype": f"value 'foo' does not have a value in the enumeration '{', '.join(enum)}'"
    }


def test_pve_booleans(api):
    v = _validator(api, "pve", QEMU, "POST")
    base = {"node": "pve1", "vmid": "100"}
    assert v.validate({**base, "onboot": "1"})["onboot"] == 1
    assert v.validate({**base, "onboot": "0"})["onboot"] == 0
    assert v.validate({**base, "onboot": True})["onboot"] == 1  # JSON true
    assert v.validate({**base, "onboot": False})["onboot"] == 0
    assert v.validate({**base, "onboot": 1})["onboot"] == 1  # JSON number
    # PVE::JSONSchema::check_type takes only '1' and '0' from a form: real PVE 8/9 rejects
    # 'yes' / 'true' at the top level (parse_boolean is for property strings and the CLI).
    assert _errors(v, {**base, "onboot": "yes"}) == {"onboot": "type check ('boolean') failed - got 'yes'"}
    assert _errors(v, {**base, "onboot": "true"}) == {"onboot": "type check ('boolean') failed - got 'true'"}


def test_pve_json_values(api):
    v = _validator(api, "pve", QEMU, "POST")
    out = v.validate({"node": "pve1", "vmid": 100, "cores": 4.0, "cpulimit": 2, "name": "x"})
    assert out["vmid"] == 100 and out["cores"] == 4 and out["cpulimit"] == 2
    errors = _errors(v, {"node": "pve1", "vmid": True, "name": ["a"], "cores": 1.5})
    assert errors == {
        "vmid": "type check ('integer') failed - got JSON::PP::Boolean",
        "name": "type check ('string') failed - got ARRAY",
        "cores": "type check ('integer') failed - got '1.5'",
    }


def test_pve_storage_id_format(api):
    v = _validator(api, "pve", QEMU, "POST")
    assert v.validate({"node": "pve1", "vmid": "100", "storage": "local-lvm"})["storage"] == "local-lvm"
    assert _errors(v, {"node": "pve1", "vmid": "100", "storage": "1bad"}) == {
        "storage": "invalid format - storage ID '1bad' contains illegal characters\n"
    }


def test_pve_max_length(api):
    v = _validator(api, "pve", QEMU_CONFIG, "PUT")
    limit = api["pve"][(QEMU_CONFIG, "PUT")]["parameters"]["properties"]["digest"]["maxLength"]
    assert v.validate({"node": "pve1", "vmid": "100", "digest": "a" * limit})["digest"] == "a" * limit
    assert _errors(v, {"node": "pve1", "vmid": "100", "digest": "a" * (limit + 1)}) == {
        "digest": f"value may only be {limit} characters long"
    }


def test_pve_min_length(api):
    v = _validator(api, "pve", "/access/users", "POST")
    assert _errors(v, {"userid": "joe@pve", "password": "short"}) == {
        "password": "value must be at least 8 characters long"
    }


def test_pve_pattern_checked_before_lengths(api):
    # check_prop order: type, format, pattern, maxLength, minLength, maximum, minimum, enum
    v = _validator(api, "pve", "/cluster/sdn/zones", "POST")
    assert _errors(v, {"type": "simple", "zone": "z"})["zone"] == "value does not match the regex pattern"
    assert _errors(v, {"type": "simple", "zone": "9zone"})["zone"] == "value does not match the regex pattern"
    assert _errors(v, {"type": "simple", "zone": "zonezone1"})["zone"] == "value may only be 8 characters long"


def test_pve_pattern_anchoring_is_perls(api):
    # PVE matches m/^$pattern$/ without grouping: for 'a|b' that is /^a|b$/
    v = _validator(api, "pve", QEMU_CONFIG, "PUT")
    assert v.validate({"node": "pve1", "vmid": "100", "parallel0": "/dev/parport0"})
    assert v.validate({"node": "pve1", "vmid": "100", "parallel0": "x/dev/usb/lp0"})
    assert _errors(v, {"node": "pve1", "vmid": "100", "parallel0": "/dev/ttyS0"}) == {
        "parallel0": "value does not match the regex pattern"
    }


def test_pve_property_string_accepted(api):
    v = _validator(api, "pve", QEMU, "POST")
    base = {"node": "pve1", "vmid": "100"}
    for value in (
        "virtio,bridge=vmbr0",
        "model=virtio,bridge=vmbr0,firewall=1",
        "virtio=AA:BB:CC:DD:EE:FE,bridge=vmbr0",  # keyAlias: model=virtio, macaddr=...
        "e1000,bridge=vmbr0,firewall=yes,tag=10",  # booleans in property strings: parse_boolean
    ):
        assert v.validate({**base, "net0": value})["net0"] == value


def test_pve_property_string_invalid_key(api):
    v = _validator(api, "pve", QEMU, "POST")
    assert _errors(v, {"node": "pve1", "vmid": "100", "net0": "virtio,bogus=1"}) == {
        "net0": "invalid format - invalid key in comma-separated list property: bogus\n"
    }


def test_pve_property_string_sub_errors(api):
    v = _validator(api, "pve", QEMU, "POST")
    base = {"node": "pve1", "vmid": "100"}
    assert _errors(v, {**base, "net0": "virtio,firewall=maybe"}) == {
        "net0": "invalid format - format error\nnet0.firewall: type check ('boolean') failed - got 'maybe'\n"
    }
    assert _errors(v, {**base, "net1": "bridge=vmbr0"}) == {
        "net1": "invalid format - format error\nnet1.model: property is missing and it is not optional\n"
    }
    assert _errors(v, {**base, "net0": "virtio=A1:00:00:00:00:00"}) == {
        "net0": "invalid format - format error\n"
        "net0.macaddr: invalid format - value does not look like a valid unicast MAC address\n\n"
    }
    assert _errors(v, {**base, "net0": "virtio,e1000"}) == {
        "net0": "invalid format - duplicate key in comma-separated list property: model\n"
    }
    assert _errors(v, {**base, "net0": "virtio,=x"}) == {
        "net0": "invalid format - missing key in comma-separated list property\n"
    }


def test_pve_indexed_parameters(api):
    v = _validator(api, "pve", QEMU, "POST")
    base = {"node": "pve1", "vmid": "100"}
    ok = v.validate({**base, "net31": "virtio", "scsi30": "local-lvm:4", "ide3": "none,media=cdrom"})
    assert set(ok) >= {"net31", "scsi30", "ide3"}
    errors = _errors(v, {**base, "net32": "virtio", "ide4": "local:1", "net01": "virtio"})
    assert errors == {"net32": NOT_DEFINED, "ide4": NOT_DEFINED, "net01": NOT_DEFINED}


def test_pve_list_format_and_delete(api):
    v = _validator(api, "pve", QEMU_CONFIG, "PUT")
    base = {"node": "pve1", "vmid": "100"}
    assert v.validate({**base, "delete": "net0,ide2"})["delete"] == "net0,ide2"
    # PVE::RESTHandler joins an array given for a '-list' string
    assert v.validate({**base, "delete": ["net0", "ide2"]})["delete"] == "net0,ide2"
    assert _errors(v, {**base, "delete": "net0;Bad!"}) == {
        "delete": "invalid format - invalid configuration ID 'Bad!'\n"
    }


def test_pve_requires(api):
    v = _validator(api, "pve", "/nodes/{node}/vncshell", "POST")
    assert _errors(v, {"node": "pve1", "cmd-opts": "-x"}) == {
        "cmd": "missing property - 'cmd-opts' requires this property"
    }


def test_pve_no_additional_properties_key_keeps_unknown(api):
    params = api["pve"][("/cluster/sdn/prefix-lists", "GET")]["parameters"]
    assert "additionalProperties" not in params
    v = compile_validator(params)
    assert v.validate({"pending": "1", "whatever": "x"}) == {"pending": 1, "whatever": "x"}


def test_pve_userid_and_email_formats(api):
    v = _validator(api, "pve", "/access/users", "POST")
    assert v.validate({"userid": "joe@pve", "email": "joe@example.com"}) == {
        "userid": "joe@pve",
        "email": "joe@example.com",
    }
    assert _errors(v, {"userid": "ab"}) == {"userid": "invalid format - user name 'ab' is too short\n"}
    assert _errors(v, {"userid": "joe", "email": "nope"}) == {
        "userid": "invalid format - value 'joe' does not look like a valid user name\n",
        "email": "invalid format - value does not look like a valid email address\n",
    }


def test_pve_unknown_named_format_is_accepted(api):
    v = _validator(api, "pve", "/cluster/backup", "POST")
    assert v.validate({"schedule": "whatever the calendar says"})["schedule"] == "whatever the calendar says"


def test_pve_accepted_values_are_remembered_without_changing_results(api):
    v = _validator(api, "pve", QEMU, "POST")
    for _ in range(3):
        assert v.validate({"node": "pve1", "vmid": "100"}) == {"node": "pve1", "vmid": 100}
        assert _errors(v, {"node": "pve1", "vmid": "99"})["vmid"].startswith("invalid format")


def test_operation_object_accepted(api):
    class Op:
        method = "POST"
        parameters = api["pve"][(QEMU, "POST")]["parameters"]

    assert compile_validator(Op()).validate({"node": "n1", "vmid": "101"}) == {"node": "n1", "vmid": 101}


# ------------------------------------------------------------------------------ PBS/PDM ----


def test_pbs_datastore_create(api):
    v = _validator(api, "pbs", "/config/datastore", "POST")
    assert v.dialect == "rust"
    out = v.validate(
        {
            "name": "store1",
            "path": "/mnt/store1",
            "maintenance-mode": "read-only",
            "gc-on-unmount": "yes",
            "keep-last": "3",
        }
    )
    assert out == {
        "name": "store1",
        "path": "/mnt/store1",
        "maintenance-mode": "read-only",  # default key 'type' of the inline format
        "gc-on-unmount": True,  # proxmox-schema: 1|0|true|false|yes|no|on|off, any case
        "keep-last": 3,
    }


def test_pbs_errors(api):
    v = _validator(api, "pbs", "/config/datastore", "POST")
    base = {"name": "store1", "path": "/mnt/store1"}
    assert _errors(v, {**base, "maintenance-mode": "type=bogus"}) == {
        "maintenance-mode": "parameter verification failed - 'type': value 'bogus' is not defined in the enumeration."
    }
    assert _errors(v, {**base, "maintenance-mode": "offline,foo=1"}) == {
        "maintenance-mode": "parameter verification failed - 'foo': schema does not allow additional properties"
    }
    assert _errors(v, {**base, "keep-last": "0", "gc-on-unmount": "maybe", "bogus": "1"}) == {
        "keep-last": "value must have a minimum value of 1 (got 0)",
        "gc-on-unmount": "Unable to parse boolean option.",
        "bogus": "schema does not allow additional properties.",
    }
    assert _errors(v, {**base, "keep-last": "x", "comment": "a\x01b"}) == {
        "keep-last": "invalid digit found in string",
        "comment": "value does not match the regex pattern",
    }
    with pytest.raises(ApiError) as info:
        v.validate({"path": "/mnt/store1"})
    assert info.value.message == "parameter verification failed - 'name': parameter is missing and it is not optional."


def test_pbs_array_property_string(api):
    v = _validator(api, "pbs", "/access/domains/{realm}/sync", "POST")
    assert v.validate({"realm": "ldap1", "remove-vanished": "acl;entry"})["remove-vanished"] == "acl;entry"
    errors = _errors(v, {"realm": "ldap1", "remove-vanished": "acl;bogus"})
    assert errors == {
        "remove-vanished": "unable to parse array element: value 'bogus' is not defined in the enumeration."
    }


def test_pdm_inline_format(api):
    path = "/pve/remotes/{remote}/firewall/options"
    v = _validator(api, "pdm", path, "PUT")
    assert v.dialect == "rust"
    assert v.validate({"remote": "pve-a", "log_ratelimit": "enable=1,burst=5"})["log_ratelimit"] == "enable=1,burst=5"
    assert v.validate({"remote": "pve-a", "log_ratelimit": "0"})["log_ratelimit"] == "0"  # default key 'enable'
    assert _errors(v, {"remote": "pve-a", "log_ratelimit": "burst=x"}) == {
        "log_ratelimit": "parameter verification failed:\n"
        "- 'burst': invalid digit found in string\n"
        "- 'enable': property is missing and it is not optional"
    }


# ------------------------------------------------------------------------------ helpers ----


def test_split_list():
    assert split_list("a,b;c d") == ["a", "b", "c", "d"]
    assert split_list(" a ,, b ") == ["a", "b"]
    assert split_list("a\0b c") == ["a", "b c"]
    assert split_list("") == []


def test_patterns_translate():
    assert perl_pattern("(?^i:[a-z]+)").search("ABC")
    assert rust_pattern("/^[[:^cntrl:]]*$/").search("plain text")
    assert not rust_pattern("/^[[:^cntrl:]]*$/").search("a\x07")
    assert not rust_pattern("/^[a-z]+$/").search("abc\n")  # Rust's $ is the end
    assert perl_pattern("[a-z]+").search("abc\n")  # Perl's $ allows a final newline


@pytest.mark.parametrize("service", ["pve", "pbs", "pdm"])
def test_every_operation_compiles_and_answers(api, service):
    for (path, method), info in api[service].items():
        v = compile_validator(info.get("parameters") or {})
        try:
            v.validate({})
        except ApiError as err:
            assert err.status == 400 and err.errors, (path, method)


def test_benchmark_printout(api, capsys):
    """Not an assertion: validations per second for typical calls."""
    cases = [
        (
            "GET  qemu status (node, vmid)",
            "/nodes/{node}/qemu/{vmid}/status/current",
            "GET",
            {"node": "pve1", "vmid": "100"},
        ),
        (
            "POST qemu create (8 params)",
            QEMU,
            "POST",
            {
                "node": "pve1",
                "vmid": "100",
                "name": "web1",
                "memory": "2048",
                "cores": "2",
                "net0": "virtio,bridge=vmbr0,firewall=1",
                "ostype": "l26",
                "onboot": "1",
            },
        ),
    ]
    lines = []
    for label, path, method, raw in cases:
        v = _validator(api, "pve", path, method)
        n = 20000
        start = time.perf_counter()
        for _ in range(n):
            v.validate(raw)
        warm = time.perf_counter() - start
        raws = [{**raw, "vmid": str(100 + i)} for i in range(n)]
        start = time.perf_counter()
        for r in raws:
            v.validate(r)
        cold = time.perf_counter() - start
        lines.append(
            f"{label}: {warm / n * 1e6:.2f} us ({n / warm:,.0f}/s) repeated values, "
            f"{cold / n * 1e6:.2f} us ({n / cold:,.0f}/s) new vmid each call"
        )
    with capsys.disabled():
        print("\nparams.validate benchmark:\n  " + "\n  ".join(lines))
