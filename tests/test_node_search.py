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
         "ScaleCrafter": "RedilationPatcher", "DiT": "RPE2DDiTLoader", "YaRN": "DiTPositionMode",
         "NTK": "DiTPositionMode", "interpolate": "DiTPositionMode"}


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


# The ranks the browser test recorded in the real frontends (docs/search_ranks.json; the host test
# tests/host/test_browser_search.py writes it with POSENC_RECORD_SEARCH=1 and checks it otherwise).
def _search_record():
    from posenc_lab import search_ranks
    return search_ranks, search_ranks.load()


def test_search_ranks_page_is_the_record():
    search_ranks, record = _search_record()
    assert search_ranks.RECORD_MD.read_text(encoding="utf-8") == search_ranks.render(record)


def test_search_ranks_recorded_for_the_three_frontends_with_every_word():
    search_ranks, record = _search_record()
    fronts = sorted(label.split()[-1] for label in record["frontends"])
    assert fronts == ["1.27.10", "1.49.6", "1.58.1"]
    nodes = registered_nodes()
    assert record["queries"] == {q: [nodes[n][1] for n in ids] for q, ids in search_ranks.QUERIES.items()}
    for label, fe in record["frontends"].items():
        assert set(fe["ranks"]) == set(search_ranks.QUERIES), label


def test_every_recorded_rank_meets_the_rule():
    """Found wherever the frontend searches the word, and in the first places or below nothing but
    the nodes named for the word and the nodes the frontend counts as used (and a few others)."""
    search_ranks, record = _search_record()
    bad = [(label, search_ranks.problem(q, m, fe["searched"][q])) for label, fe in record["frontends"].items()
           for q, m in fe["ranks"].items() if search_ranks.problem(q, m, fe["searched"][q])]
    assert bad == []
    # the words of issue 33 that found no pack node are found on every frontend now
    for label, fe in record["frontends"].items():
        for word in ("yarn", "ntk", "interpolate"):
            assert fe["ranks"][word]["rank"] is not None and fe["ranks"][word]["rank"] <= 3, (label, word)


def test_search_rule_can_fail():
    from posenc_lab import search_ranks
    freq = {"Upscale Image": 500, "Load Image": 900, "Some Node": 0, "Other": 0, "Third": 0, "Fourth": 0,
            "PBC Model Patcher (hires, upscale)": 0}
    low = search_ranks.measure("upscale", ["Some Node", "Other", "Third", "Fourth", "Load Image",
                                           "PBC Model Patcher (hires, upscale)"],
                               ["PBC Model Patcher (hires, upscale)"], freq)
    assert (low["rank"], low["named_above"], low["used_above"], low["others_above"]) == (6, 0, 1, 4)
    assert "below 4 nodes" in search_ranks.problem("upscale", low, True)
    behind_named = search_ranks.measure("upscale", ["Upscale Image", "Load Image", "Other", "Third", "Fourth",
                                                    "PBC Model Patcher (hires, upscale)"],
                                        ["PBC Model Patcher (hires, upscale)"], freq)
    assert search_ranks.problem("upscale", behind_named, True) is None
    missing = search_ranks.measure("yarn", ["Load Image"], ["DiT Position Mode"], freq)
    assert "no pack node" in search_ranks.problem("yarn", missing, True)
    assert search_ranks.problem("yarn", missing, False) is None    # a word the frontend does not search
