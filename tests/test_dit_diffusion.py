"""DiT schedule and DDIM (posenc_lab/dit_diffusion.py); fine-tuning an official-layout checkpoint."""
import numpy as np
import pytest
import torch

from posenc_lab import dit_diffusion, train_dit
from posenc.dit import load_dit

torch.set_num_threads(1)


def test_schedule_is_dits_linear_betas():
    # guided-diffusion get_named_beta_schedule("linear", 1000): linspace(1e-4, 0.02) (scale = 1)
    betas = np.linspace(0.0001, 0.02, 1000, dtype=np.float64)
    ref = np.cumprod(1.0 - betas)
    np.testing.assert_allclose(dit_diffusion.alphas_cumprod().numpy(), ref, rtol=1e-12)


class Oracle(torch.nn.Module):
    """Predicts the exact noise that leads from a known x0 to x; DDIM must land on x0."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0
        self.abar = dit_diffusion.alphas_cumprod()

    def forward(self, x, t, y=None, **kw):
        a = self.abar[t.long()].float().view(-1, 1, 1, 1)
        eps = (x - a.sqrt() * self.x0) / (1 - a).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], 1)  # learned-sigma layout: 2C channels


def test_ddim_recovers_x0_with_the_oracle():
    x0 = torch.randn(2, 4, 6, 10, generator=torch.Generator().manual_seed(1)).clamp(-1, 1)
    out = dit_diffusion.ddim_sample(Oracle(x0), x0.shape, steps=10, seed=3)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)


def test_init_from_official_layout_adds_micro_conditioning_without_changing_output(tmp_path):
    from safetensors.torch import save_file
    from test_dit_loading import official_state_dict
    sd = official_state_dict(D=64, depth=1, classes=3, grid=4)
    save_file(sd, str(tmp_path / "official.safetensors"))
    out = str(tmp_path / "ft.safetensors")
    cfg = train_dit.TrainConfig(out=out, init=str(tmp_path / "official.safetensors"), grid=(4, 4),
                                max_positions=(8, 8), micro_conditioning=True, steps=0, progress=False)
    train_dit.train(cfg, (torch.randn(2, 4, 8, 8), torch.tensor([0, 2])))
    ft, info = load_dit(out)
    base, _ = load_dit(str(tmp_path / "official.safetensors"))
    assert info["config"].micro_conditioning and info["config"].position_sampling == "rpe2d"
    assert info["config"].learn_sigma and info["config"].num_heads == base.config.num_heads
    x, t, y = torch.randn(1, 4, 8, 8), torch.tensor([100.0]), torch.tensor([2])
    torch.testing.assert_close(ft(x, t, y, micro=torch.tensor([[0.2, 0.1, 0.5, 0.5]])), base(x, t, y))


def test_ddim_with_a_dit_position_modes_and_cfg():
    from posenc.dit import DiT, DiTConfig
    m = DiT(DiTConfig(in_channels=3, patch_size=2, hidden_size=32, depth=1, num_heads=2, mlp_hidden=64,
                      num_classes=2, learn_sigma=False, grid=(4, 4), max_positions=(16, 16),
                      position_sampling="rpe2d")).eval()
    for mode in ("linspace", "random", "ntk"):
        out = dit_diffusion.ddim_sample(m, (2, 3, 16, 24), steps=3, y=torch.tensor([0, 1]), cfg_scale=3.0,
                                    mode=mode, seed=1)
        assert out.shape == (2, 3, 16, 24) and torch.isfinite(out).all()


def test_img2img_timesteps_are_the_tail_of_a_longer_schedule():
    # round(linspace(999, 0, 8)) = 999, 856, 714, 571, 428, 285, 143, 0 (by hand: 999 * k / 7)
    assert dit_diffusion.pass_timesteps(8) == [999, 856, 714, 571, 428, 285, 143, 0]
    assert dit_diffusion.pass_timesteps(4, denoise=0.5) == [428, 285, 143, 0]
    assert dit_diffusion.pass_timesteps(3, denoise=0.75) == [666, 333, 0]  # of 999, 666, 333, 0
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="denoise"):
            dit_diffusion.pass_timesteps(4, denoise=bad)


class ZeroEps(torch.nn.Module):
    """Predicts eps = 0: every DDIM step then rescales x by sqrt(abar_next / abar_t), so the pass
    returns its start divided by sqrt(abar) of its first timestep."""

    def forward(self, x, t, y=None, **kw):
        return torch.zeros_like(x)


def test_img2img_starts_from_init_noised_to_the_first_timestep():
    g = torch.Generator().manual_seed(0)
    init = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    noise = torch.randn(2, 3, 8, 8, generator=g)
    out = dit_diffusion.ddim_sample(ZeroEps(), init.shape, steps=4, noise=noise, init=init,
                                    denoise=0.5)
    # first timestep 428: abar_428 = prod_{i <= 428} (1 - beta_i), betas linspace(1e-4, 0.02)
    a = float(np.prod(1.0 - np.linspace(1e-4, 0.02, 1000)[:429]))
    torch.testing.assert_close(out, init + (1 - a) ** 0.5 / a ** 0.5 * noise, atol=1e-5, rtol=1e-5)
    # the oracle recovers a different x0 from that start: the pass really denoises
    x0 = init.flip(0)
    torch.testing.assert_close(dit_diffusion.ddim_sample(Oracle(x0), init.shape, steps=4,
                                                         noise=noise, init=init, denoise=0.5),
                               x0, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="img2img needs both"):
        dit_diffusion.ddim_sample(ZeroEps(), init.shape, steps=4, init=init)
    with pytest.raises(ValueError, match="init shape"):
        dit_diffusion.ddim_sample(ZeroEps(), (2, 3, 8, 16), steps=4, init=init, denoise=0.5)
