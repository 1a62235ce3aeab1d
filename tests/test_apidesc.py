"""The bundled API descriptions and the router over them."""

from __future__ import annotations

import pytest

from scenariod.apidesc import ApiDescription, ApiNode, UnknownApi


@pytest.fixture(scope="module")
def pve() -> ApiDescription:
    return ApiDescription.load("pve")


@pytest.mark.parametrize(
    ("service", "version", "paths", "ops"),
    [("pve", "9.2", 449, 675), ("pbs", "4.2", 248, 367), ("pdm", "1.1.6", 260, 327)],
)
def test_counts(service: str, version: str, paths: int, ops: int) -> None:
    api = ApiDescription.load(service)
    assert api.version == version
    assert len(api.nodes) == paths == len(api.by_template)
    assert sum(len(n.ops) for n in api.nodes) == ops == len(list(api.operations()))


def test_load_is_cached_and_takes_version_prefixes(pve: ApiDescription) -> None:
    assert ApiDescription.load("pve") is pve
    assert ApiDescription.load("pve", "9") is pve
    assert ApiDescription.load("PVE", "9.2") is pve


@pytest.mark.parametrize(
    ("service", "version"), [("pve", "6"), ("pve", "8.3"), ("pve", "9.2.1"), ("pve", "9.20"), ("vmware", None)]
)
def test_unknown_api_lists_bundled(service: str, version: str | None) -> None:
    with pytest.raises(UnknownApi) as err:
        ApiDescription.load(service, version)
    assert "pve 7.4, 8.4, 9.0, 9.1, 9.2" in err.value.message
    assert "pbs 4.2" in err.value.message
    assert "pdm 1.1.6" in err.value.message


def test_resolve_binds_params(pve: ApiDescription) -> None:
    node, params = pve.resolve("/nodes/pve1/qemu/100/config")
    assert node.path == "/nodes/{node}/qemu/{vmid}/config"
    assert params == {"node": "pve1", "vmid": "100"}
    assert list(params) == ["node", "vmid"]


@pytest.mark.parametrize("path", ["/nodes/pve1/qemu/100/config/", "nodes/pve1/qemu/100/config"])
def test_resolve_tolerates_slashes(pve: ApiDescription, path: str) -> None:
    node, _ = pve.resolve(path)
    assert node.path == "/nodes/{node}/qemu/{vmid}/config"


def test_resolve_root(pve: ApiDescription) -> None:
    for path in ("", "/"):
        node, params = pve.resolve(path)
        assert node is pve.root and params == {}
    assert not pve.root.ops  # PVE's tree has no "/" entry
    pbs = ApiDescription.load("pbs")
    assert pbs.resolve("/")[0] is pbs.by_template["/"]
    assert pbs.root.kind == "index" and pbs.root.index_field == "subdir"


def test_resolve_unknown(pve: ApiDescription) -> None:
    assert pve.resolve("/nodes/pve1/qemus") is None
    assert pve.resolve("/nope") is None
    assert pve.resolve("/nodes/pve1/qemu/100/config/extra") is None
    assert pve.resolve("/nodes//qemu") is None


def test_resolve_upid_segment(pve: ApiDescription) -> None:
    upid = "UPID:pve1:0000C530:001C9BEE:66F2A1B3:qmstart:100:root@pam:"
    node, params = pve.resolve(f"/nodes/pve1/tasks/{upid}/status")
    assert node.path == "/nodes/{node}/tasks/{upid}/status"
    assert params["upid"] == upid


def test_resolve_segments_keeps_encoded_slash(pve: ApiDescription) -> None:
    node, params = pve.resolve_segments(["nodes", "pve1", "storage", "local", "content", "local:iso/x.iso"])
    assert node.path == "/nodes/{node}/storage/{storage}/content/{volume}"
    assert params["volume"] == "local:iso/x.iso"


def test_resolve_method_less_node_routes() -> None:
    pdm = ApiDescription.load("pdm")
    node, params = pdm.resolve("/pbs/remotes/r1/nodes")
    assert node.path == "/pbs/remotes/{remote}/nodes" and not node.ops
    assert params == {"remote": "r1"}


def _tiny(paths: list[str]) -> ApiDescription:
    return ApiDescription("test", "1", "test", [{"path": p, "methods": {"GET": {}}} for p in paths])


def test_literal_wins_over_param() -> None:
    api = _tiny(["/a", "/a/b", "/a/{x}", "/a/b/c", "/a/{x}/d"])
    node, params = api.resolve("/a/b")
    assert node.path == "/a/b" and params == {}
    node, params = api.resolve("/a/b/c")
    assert node.path == "/a/b/c"
    # The literal branch dead-ends: back off to the parameter.
    node, params = api.resolve("/a/b/d")
    assert node.path == "/a/{x}/d" and params == {"x": "b"}
    assert api.resolve("/a/b/e") is None


def test_one_param_per_level() -> None:
    with pytest.raises(ValueError):
        _tiny(["/a/{x}", "/a/{y}"])


def test_pbs_download_label() -> None:
    pbs = ApiDescription.load("pbs")
    labels = [(op.method, op.label) for _, op in pbs.operations() if op.label != op.method]
    assert sorted(set(labels)) == [("GET", "DOWNLOAD"), ("POST", "UPLOAD")]
    assert len(labels) == 16
    assert all(op.method in ("GET", "POST", "PUT", "DELETE") for _, op in pbs.operations())


@pytest.mark.parametrize(
    ("template", "kind", "key", "index_field"),
    [
        ("/nodes", "collection", "node", None),
        ("/nodes/{node}/qemu", "collection", "vmid", None),
        ("/nodes/{node}", "index", None, "name"),
        ("/nodes/{node}/qemu/{vmid}", "index", None, "subdir"),
        ("/version", "leaf", None, None),
        ("/nodes/{node}/qemu/{vmid}/config", "leaf", None, None),
    ],
)
def test_classification(
    pve: ApiDescription, template: str, kind: str, key: str | None, index_field: str | None
) -> None:
    node = pve.by_template[template]
    assert (node.kind, node.key, node.index_field) == (kind, key, index_field)


def test_collection_key_field(pve: ApiDescription) -> None:
    snapshots = pve.by_template["/nodes/{node}/qemu/{vmid}/snapshot"]
    assert (snapshots.key, snapshots.key_field) == ("snapname", "name")
    assert pve.by_template["/nodes"].key_field == "node"


def test_pbs_directory_index() -> None:
    pbs = ApiDescription.load("pbs")
    node = pbs.by_template["/nodes/{node}"]
    assert (node.kind, node.index_field) == ("index", "subdir")
    assert pbs.by_template["/admin/datastore"].kind == "collection"


def test_tree_links(pve: ApiDescription) -> None:
    node = pve.by_template["/nodes/{node}/qemu/{vmid}"]
    assert node.param == "vmid"
    assert node.parent is pve.by_template["/nodes/{node}/qemu"]
    assert node.parent.param_child is node
    assert node.segments == ("nodes", "{node}", "qemu", "{vmid}")
    assert "config" in node.literal_children
    assert pve.by_template["/nodes"].parent is pve.root


def test_operation_fields(pve: ApiDescription) -> None:
    start = pve.by_template["/nodes/{node}/qemu/{vmid}/status/start"].ops["POST"]
    assert start.method == "POST" and start.name == "vm_start"
    assert start.protected and start.proxyto == "node" and start.allowtoken
    assert start.returns_upid
    assert "vmid" in start.parameters["properties"]
    config = pve.by_template["/nodes/{node}/qemu/{vmid}/config"].ops
    assert not config["GET"].returns_upid
    assert config["POST"].returns_upid and not config["PUT"].returns_upid


@pytest.mark.parametrize(
    ("service", "method", "template", "upid"),
    [
        ("pve", "POST", "/nodes/{node}/qemu/{vmid}/snapshot", True),  # "the task ID."
        ("pve", "POST", "/nodes/{node}/qemu/{vmid}/monitor", False),  # override
        ("pve", "POST", "/nodes/{node}/storage/{storage}/content", False),  # a volume id
        ("pbs", "POST", "/admin/datastore/{store}/gc", True),
        ("pbs", "GET", "/nodes/{node}/apt/changelog", False),
        ("pbs", "POST", "/admin/sync/{id}/run", True),  # override
        ("pdm", "POST", "/pve/remotes/{remote}/qemu/{vmid}/start", True),  # "A remote UPID"
    ],
)
def test_returns_upid(service: str, method: str, template: str, upid: bool) -> None:
    api = ApiDescription.load(service)
    assert api.by_template[template].ops[method].returns_upid is upid


def test_upid_counts() -> None:
    counts = {s: sum(op.returns_upid for _, op in ApiDescription.load(s).operations()) for s in ("pve", "pbs", "pdm")}
    assert counts == {"pve": 94, "pbs": 36, "pdm": 32}


def test_operations_sorted(pve: ApiDescription) -> None:
    keys = [(node.path, op.method) for node, op in pve.operations()]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("path", "suggestion"),
    [
        ("/nodes/pve1/qemus", "/nodes/{node}/qemu"),
        ("/nodes/{node}/qemus", "/nodes/{node}/qemu"),
        ("/nodes/pve1/qemu/100/confg", "/nodes/{node}/qemu/{vmid}/config"),
        ("/nodes/pve1/qemu/100/config/extra", "/nodes/{node}/qemu/{vmid}/config"),
        ("/clster/resources", "/cluster/resources"),
        ("/node/pve1", "/nodes/{node}"),
        ("/acess/users", "/access/users"),
    ],
)
def test_nearest(pve: ApiDescription, path: str, suggestion: str) -> None:
    assert pve.nearest(path) == suggestion


def test_nearest_gives_up(pve: ApiDescription) -> None:
    assert pve.nearest("/zzzzzzzzzzzzzzzzzzzz/qqqqqqqqqqqqq") is None


def _paths(nodes: list[ApiNode]) -> list[str]:
    return [n.path for n in nodes]


def test_match_template_literal_and_param(pve: ApiDescription) -> None:
    assert _paths(pve.match_template(["nodes", "pve1", "qemu"])) == ["/nodes/{node}/qemu"]
    found = pve.match_template(["nodes", "{n}", "qemu", "{id}", "config"])
    assert _paths(found) == ["/nodes/{node}/qemu/{vmid}/config"]
    assert pve.match_template(["nodes", "pve1", "qemus"]) == []


def test_match_template_star(pve: ApiDescription) -> None:
    found = _paths(pve.match_template(["nodes", "*", "*", "{vmid}", "status", "start"]))
    assert found == ["/nodes/{node}/lxc/{vmid}/status/start", "/nodes/{node}/qemu/{vmid}/status/start"]
    assert "/nodes/{node}/qemu" in _paths(pve.match_template(["nodes", "*", "*"]))


def test_match_template_double_star(pve: ApiDescription) -> None:
    everything = pve.match_template(["**"])
    assert len(everything) == len(pve.nodes) + 1  # and the synthetic root
    below = _paths(pve.match_template(["nodes", "pve1", "qemu", "100", "**"]))
    assert below[0] == "/nodes/{node}/qemu/{vmid}"  # ** may match nothing
    assert "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback" in below
    assert all(p.startswith("/nodes/{node}/qemu/{vmid}") for p in below)
    # A literal may also be the value of any {param}, so items ending the path match too.
    middle = pve.match_template(["nodes", "**", "rollback"])
    assert {n.path for n in middle if n.param is None} == {
        "/nodes/{node}/lxc/{vmid}/snapshot/{snapname}/rollback",
        "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
    }
    assert "/nodes/{node}/qemu/{vmid}" in _paths(middle)


def test_match_template_returns_router_nodes(pve: ApiDescription) -> None:
    (node,) = pve.match_template(["version"])
    assert pve.resolve("/version")[0] is node
