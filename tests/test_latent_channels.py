"""nodes/latent_channels.py: a channel count that is a plain int except that `!=` against
another count raises (how the pack's models refuse a wrong latent inside ComfyUI's
fix_empty_latent_channels; the host tests run that path through KSampler)."""
import pytest

from conftest import load_pack


@pytest.fixture(scope="module")
def lc():
    return load_pack().nodes.latent_channels


def test_a_mismatch_raises_in_either_order_with_what_to_use(lc):
    ch = lc.Channels(3, "The test model", lc.PIXEL_FIX)
    with pytest.raises(lc.LatentChannelsError, match="The test model takes a 3-channel latent; this one "
                                                     "has 4 channels.*EmptyChromaRadianceLatentImage"):
        ch != 4
    with pytest.raises(lc.LatentChannelsError, match="has 4 channels"):
        4 != ch                        # Python tries the subclass's reflected __ne__ first


def test_otherwise_it_is_the_plain_int(lc):
    ch = lc.Channels(3, "m", "")
    assert (ch != 3) is False and ch == 3 and hash(ch) == hash(3) and ch + 1 == 4
    assert list(range(ch)) == [0, 1, 2] and {3: "x"}[ch] == "x"


def test_strict_format_keeps_the_base_format(lc):
    class Base:
        latent_channels = 4
        scale_factor = 0.18215

    fmt = lc.strict_latent_format(Base, "This DiT")
    assert isinstance(fmt, Base) and fmt.scale_factor == 0.18215 and fmt.latent_channels == 4
    with pytest.raises(lc.LatentChannelsError, match="This DiT takes a 4-channel.*'Empty Latent Image'"):
        fmt.latent_channels != 3
