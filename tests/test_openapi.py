"""The OpenAPI document generated from the bundled API descriptions."""

from __future__ import annotations

import copy

import pytest

from scenariod.apidesc import ApiDescription
from scenariod.openapi import build_openapi, convert

START = "/api2/json/nodes/{node}/qemu/{vmid}/status/start"


@pytest.fixture(scope="module")
def pve_doc() -> dict:
    return build_openapi(ApiDescription.load("pve"))


def test_top_level(pve_doc: dict) -> None:
    assert pve_doc["openapi"] == "3.0.3"
    assert pve_doc["info"]["version"] == "9.2"
    assert "servers" not in pve_doc
    assert all(path.startswith("/api2/json/") for path in pve_doc["paths"])
    assert sum(len(item) for item in pve_doc["paths"].values()) == 675
    assert len(pve_doc["paths"]) == 444  # paths with at least one method


def test_cached_and_server_url() -> None:
    api = ApiDescription.load("pve")
    assert build_openapi(api) is build_openapi(api)
    doc = build_openapi(api, "https://127.0.0.1:8006")
    assert doc["servers"] == [{"url": "https://127.0.0.1:8006"}]


def test_operation_ids_unique(pve_doc: dict) -> None:
    ids = [op["operationId"] for item in pve_doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_post_with_path_params_and_body(pve_doc: dict) -> None:
    op = pve_doc["paths"][START]["post"]
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"node", "vmid"}
    assert all(p["in"] == "path" and p["required"] for p in params.values())
    assert params["vmid"]["schema"]["type"] == "integer"
    body = op["requestBody"]["content"]
    assert set(body) == {"application/x-www-form-urlencoded", "application/json"}
    schema = body["application/json"]["schema"]
    assert "node" not in schema["properties"] and "skiplock" in schema["properties"]
    assert "required" not in schema  # every body parameter of start is optional
    assert op["x-proxmox-returns-upid"] is True
    assert op["x-proxmox-name"] == "vm_start"
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["required"] == ["data"] and ok["properties"]["data"]["type"] == "string"
    for code in ("400", "401", "500", "501"):
        assert op["responses"][code] == {"$ref": f"#/components/responses/{code}"}


def test_get_query_params(pve_doc: dict) -> None:
    op = pve_doc["paths"]["/api2/json/nodes/{node}/qemu"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert params["full"]["in"] == "query" and params["full"]["required"] is False
    assert {"type": "boolean"} in params["full"]["schema"]["oneOf"]
    assert "requestBody" not in op
    data = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert data["type"] == "array"
    assert "vmid" in data["items"]["required"]


def test_security(pve_doc: dict) -> None:
    schemes = pve_doc["components"]["securitySchemes"]
    assert schemes["ticket"] == {**schemes["ticket"], "type": "apiKey", "in": "cookie", "name": "PVEAuthCookie"}
    assert schemes["csrf"]["name"] == "CSRFPreventionToken"
    assert "PVEAPIToken=" in schemes["token"]["description"]
    assert pve_doc["security"] == [{"ticket": []}, {"token": []}]
    assert pve_doc["paths"]["/api2/json/access/ticket"]["post"]["security"] == []
    assert pve_doc["paths"][START]["post"]["security"] == [{"ticket": [], "csrf": []}, {"token": []}]
    assert "security" not in pve_doc["paths"]["/api2/json/version"]["get"]


def test_pbs_document() -> None:
    doc = build_openapi(ApiDescription.load("pbs"))
    assert doc["components"]["securitySchemes"]["ticket"]["name"] == "PBSAuthCookie"
    assert "/api2/json/" in doc["paths"]
    gc = doc["paths"]["/api2/json/admin/datastore/{store}/gc"]
    assert gc["post"]["x-proxmox-returns-upid"] is True
    store = gc["get"]["parameters"][0]["schema"]
    assert store["pattern"].startswith("^") and store["maxLength"] == 32
    download = doc["paths"]["/api2/json/admin/datastore/{store}/download"]["get"]
    assert download["x-proxmox-method"] == "DOWNLOAD"


def test_convert_types() -> None:
    assert convert({"type": "null"}) == {"nullable": True, "enum": [None]}
    assert convert({"type": "any", "description": "x"}) == {"description": "x"}
    assert convert({}) == {}
    assert convert({"type": "boolean", "default": 1})["default"] == 1
    assert convert({"type": "array"}) == {"type": "array", "items": {}}
    obj = convert(
        {
            "type": "object",
            "additionalProperties": 0,
            "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"type": "string", "optional": 1}},
        }
    )
    assert obj == {
        "type": "object",
        "properties": {"a": {"type": "integer", "minimum": 1}, "b": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }


def test_convert_patterns_and_defaults() -> None:
    assert convert({"type": "string", "pattern": "[a-z]+"})["pattern"] == "^(?:[a-z]+)$"
    assert convert({"type": "string", "pattern": "/^a$/"})["pattern"] == "^a$"
    posix = convert({"type": "string", "pattern": "/^[[:^cntrl:]]*$/"})
    assert "pattern" not in posix and posix["x-proxmox-pattern"] == "/^[[:^cntrl:]]*$/"
    prose = convert({"type": "integer", "minimum": 0, "default": "same as user"})
    assert "default" not in prose and prose["x-proxmox-default"] == "same as user"
    assert convert({"type": "integer", "minimum": 1, "default": 0})["x-proxmox-default"] == 0


def test_convert_does_not_touch_input() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "boolean", "optional": 1}}}
    before = copy.deepcopy(schema)
    convert(schema)
    assert schema == before


@pytest.mark.parametrize("service", ["pve", "pbs", "pdm"])
def test_validates(service: str) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(copy.deepcopy(build_openapi(ApiDescription.load(service))))
