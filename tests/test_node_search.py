"""Node search: the words users type find the pack's nodes (issue #15).

ComfyUI_frontend 1.27 (with ComfyUI 0.3.64) searches node id and display name only (its
NodeSearchService's Fuse keys), so the display names must carry the words; newer ComfyUI adds
`search_aliases` to the V3 schema, which the nodes fill where the Schema has the field. The
browser test (tests/host/test_browser_search.py) types the words into the real search box."""
import dataclasses
import importlib

import pytest

from conftest import load_pack, registered_nodes

# What people type, and which of our nodes it should find.
WORDS = {"hires": "PBCModelPatcher", "high res": "RPE2DDiTLoader", "upscale": "PBCModelPatcher",
         "ScaleCrafter": "RedilationPatcher", "DiT": "RPE2DDiTLoader"}


def test_every_node_declares_search_aliases():
    for node_id, (cls, _) in registered_nodes().items():
        aliases = cls.SEARCH_ALIASES
        assert aliases and all(isinstance(a, str) and a.strip() for a in aliases), node_id
        assert len(set(a.lower() for a in aliases)) == len(aliases), node_id


@pytest.mark.parametrize("word, node_id", WORDS.items())
def test_the_word_is_in_the_display_name_the_frontend_searches(word, node_id):
    """1.27's search ranks whole words and prefixes of the display name first; a word only in
    the description or in aliases is not searched at all there."""
    nodes = registered_nodes()
    assert word.lower() in nodes[node_id][1].lower()
    assert word.lower() in [a.lower() for a in nodes[node_id][0].SEARCH_ALIASES]


def test_dit_loader_display_name_starts_with_dit():
    """'DiT' inside a word is split by the frontend's camelCase rule (Di|T); only a name that
    starts with it ranks above the many 'Conditioning' nodes that contain 'dit'."""
    assert registered_nodes()["RPE2DDiTLoader"][1].startswith("DiT ")


def test_aliases_reach_a_schema_that_has_the_field(monkeypatch):
    """Newer ComfyUI's io.Schema has search_aliases (0.3.64's and the stand-in's do not: there
    the field is left out instead of failing)."""
    pack = load_pack()
    search = importlib.import_module(pack.__name__ + ".nodes.search")
    assert "search_aliases" not in {f.name for f in dataclasses.fields(search.io.Schema)}
    base = search.io.Schema

    @dataclasses.dataclass
    class NewerSchema(base):
        search_aliases: list = None

    monkeypatch.setattr(search.io, "Schema", NewerSchema)
    for node_id, (cls, _) in registered_nodes(pack).items():
        s = cls.define_schema()
        assert isinstance(s, NewerSchema) and s.search_aliases == cls.SEARCH_ALIASES, node_id
