"""The state store's public tree operations: walking, clearing a value, aliasing a subtree."""

from __future__ import annotations

import pytest

from scenariod.state import MISSING, StateStore


@pytest.fixture
def store() -> StateStore:
    s = StateStore()
    s.set("/nodes/pbs1", {"node": "pbs1"})
    s.set("/nodes/pbs1/dns", {"search": "lan"})
    s.set(("nodes", "pbs1", "tasks", "UPID:a/b"), {"upid": "UPID:a/b"})  # a key holding '/'
    return s


def test_entries_and_walk_list_values_parents_first(store: StateStore) -> None:
    assert [segs for segs, _ in store.entries()] == [
        ("nodes", "pbs1"),
        ("nodes", "pbs1", "dns"),
        ("nodes", "pbs1", "tasks", "UPID:a/b"),
    ]
    # Segments keep a key that holds '/' whole; joined paths cannot.
    assert dict(store.entries("/nodes/pbs1/tasks")) == {("nodes", "pbs1", "tasks", "UPID:a/b"): {"upid": "UPID:a/b"}}
    assert [path for path, _ in store.walk("/nodes")] == [
        "/nodes/pbs1",
        "/nodes/pbs1/dns",
        "/nodes/pbs1/tasks/UPID:a/b",
    ]
    assert list(store.entries("/nope")) == [] and list(store.walk("/nope")) == []
    store.set("/", {"root": True})
    assert next(store.walk()) == ("/", {"root": True}) and next(store.entries()) == ((), {"root": True})


def test_clear_keeps_the_subtree(store: StateStore) -> None:
    generation = store.generation
    assert store.clear("/nodes/pbs1")
    assert store.get("/nodes/pbs1") is MISSING and store.get("/nodes/pbs1/dns") == {"search": "lan"}
    assert store.generation == generation + 1
    assert not store.clear("/nodes/pbs1") and not store.clear("/nodes/nope")
    assert store.generation == generation + 1  # nothing changed, nothing to rebuild


def test_alias_shares_one_subtree_under_two_names(store: StateStore) -> None:
    store.set("/nodes/localhost/dns", {"search": "seeded-under-localhost"})
    store.set("/nodes/localhost/time", {"timezone": "UTC"})
    generation = store.generation
    assert store.alias("/nodes/localhost", "/nodes/pbs1")
    assert store.generation > generation  # cached views are built again
    # What only the alias held is kept; where both held a value, the target's wins.
    assert store.get("/nodes/pbs1/time") == {"timezone": "UTC"}
    assert store.get("/nodes/localhost/dns") == {"search": "lan"}
    # A write through either name is read through both; so is a delete.
    store.set("/nodes/localhost/dns", {"search": "example.org"})
    assert store.get("/nodes/pbs1/dns") == {"search": "example.org"}
    store.delete("/nodes/pbs1/time")
    assert not store.has("/nodes/localhost/time")
    # Twice is a no-op; a copy keeps the two names one subtree.
    generation = store.generation
    assert not store.alias("/nodes/localhost", "/nodes/pbs1") and store.generation == generation
    other = store.copy()
    other.set("/nodes/pbs1/dns", {"search": "copy"})
    assert other.get("/nodes/localhost/dns") == {"search": "copy"}
    assert store.get("/nodes/localhost/dns") == {"search": "example.org"}


def test_alias_refuses_what_it_cannot_share(store: StateStore) -> None:
    assert not store.alias("/nodes/localhost", "/nodes/nope")  # nothing to share
    assert not store.has("/nodes/localhost")
    with pytest.raises(ValueError):
        store.alias("/nodes/pbs1/self", "/nodes/pbs1")  # a cycle
    with pytest.raises(ValueError):
        store.alias("/", "/nodes/pbs1")


def test_a_section_version_moves_with_writes_below_it_and_with_touch() -> None:
    """What reads only /access (a token's verdict) may be kept while other sections change."""
    store = StateStore()
    access = store.version("access")
    store.set(("pools", "web"), {"poolid": "web"})
    store.delete("/pools/web")
    assert store.version("access") == access
    for write in (
        lambda: store.set(("access", "users", "bob@pve"), {"userid": "bob@pve"}),
        lambda: store.clear("/access/users/bob@pve"),
        lambda: store.delete(("access", "users")),
        lambda: store.move("/nodes/pve1", "/access/moved"),
        lambda: store.touch(),  # a change in place: it says not where
        lambda: store.delete("/"),
    ):
        store.set(("nodes", "pve1"), {"node": "pve1"})
        before = store.version("access")
        write()
        assert store.version("access") > before


def test_leaves_get_children_of_their_own_in_the_store_and_in_its_copies(store: StateStore) -> None:
    # Leaves share one empty children mapping until something is stored below them: a write
    # below one leaf, in the store or in a copy (a reset World), shows under that leaf only.
    store.set("/pools/a", {"poolid": "a"})
    store.set("/pools/b", {"poolid": "b"})
    store.alias("/nodes/localhost", "/nodes/pbs1")
    other = store.copy()
    other.set("/pools/a/members/x", {"id": "x"})
    store.set("/pools/b/members/y", {"id": "y"})
    assert other.keys("/pools/a/members") == ["x"] and other.keys("/pools/b/members") == []
    assert store.keys("/pools/b/members") == ["y"] and store.keys("/pools/a/members") == []
    assert other.get("/nodes/pbs1") == {"node": "pbs1"}
    other.set("/nodes/localhost/time", {"timezone": "UTC"})  # the alias is one subtree in the copy too
    assert other.get("/nodes/pbs1/time") == {"timezone": "UTC"} and not store.has("/nodes/pbs1/time")
    other.delete("/pools/a/members/x")
    assert other.keys("/pools/a/members") == [] and other.keys("/pools/b") == []
