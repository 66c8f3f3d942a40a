"""Pictures of PBC's virtual boundaries: which boundaries a U-Net gets at a given image size, per
level, and a drawing of them (the Boundary Visualizer node's output).

Pure torch + PIL.  The geometry itself is posenc/boundaries.py; this module only decides, the way
the PBC patcher does, which axes are active and which feature-map sizes the U-Net levels have,
and then draws:

* the latent is pixels // latent_downscale (8 for SD-family VAEs, 1 for pixel-space models);
* an axis gets boundaries only where the latent size exceeds base_resolution / latent_downscale
  (boundaries.active_axes, the patch's own rule);
* U-Net level l works on level_sizes(latent_h, latent_w, levels)[l];
* the jitter is one draw at key 0 (the patcher redraws it every sampling step, key = sigma_key).

Rings are shaded by lambda: boundaries near the edge (small lambda, a strong position signal) are
opaque and red, the ones near the centre (lambda close to 1, nearly transparent padding) are faint.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from .boundaries import (AUTO_BOUNDARIES, Boundaries, active_axes, check_boundary_count, level_sizes,
                         resolve_boundary_count, virtual_boundaries)
from .limits import MAX_BOUNDARIES, MAX_JITTER, MAX_LEVELS, MAX_SIZE

DEFAULT_LEVELS = 4        # SD 1.x / 2.x U-Nets have 4 levels (SDXL has 3)
DEFAULT_LATENT_DOWNSCALE = 8

# Colours (RGB in [0, 1]).
BACKGROUND = (0.118, 0.118, 0.125)     # around the panels and behind the text
PANEL = (0.20, 0.20, 0.215)            # an empty panel (no IMAGE given)
TEXT = (0.92, 0.92, 0.92)
NOTICE = (1.0, 0.80, 0.30)
STRONG = (1.0, 0.16, 0.10)             # lambda -> 0: at the edge, strong position signal
WEAK = (1.0, 0.93, 0.55)               # lambda -> 1: near the centre, nearly transparent
GRID_ALPHA = 0.07

PANEL_LONG_SIDE = 512
GAP = 16
LABEL_HEIGHT = 22
FONT_SIZE = 14
LINE_HEIGHT = 19
MIN_IMAGE_WIDTH = 720


@dataclass(frozen=True)
class LevelPlan:
    index: int
    height: int                 # feature-map rows at this level
    width: int                  # feature-map columns
    boundaries: Boundaries


@dataclass(frozen=True)
class BoundaryPlan:
    """Everything the picture shows, decided exactly as the PBC patcher decides it."""

    width: int                  # pixels
    height: int
    base_resolution: int        # pixels
    latent_downscale: int
    latent_width: int
    latent_height: int
    rows: bool                  # horizontal boundaries (top/bottom) active: height above base
    cols: bool                  # vertical boundaries (left/right) active: width above base
    n: int
    jitter: int
    seed: int
    key: int
    levels: tuple[LevelPlan, ...]
    auto: bool = False          # n came from the auto rule (boundaries input 0)

    @property
    def active(self) -> bool:
        return self.rows or self.cols


def _check_int(name: str, value, lo: int, hi: int, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer (got {value!r})")
    if value < lo or value > hi:
        raise ValueError(f"{name} must be from {lo} to {hi} (got {value}){hint}")
    return value


def plan_boundaries(width: int, height: int, base_resolution: int, n: int, jitter: int = 0,
                    seed: int = 0, key: int = 0, levels: int = DEFAULT_LEVELS,
                    latent_downscale: int = DEFAULT_LATENT_DOWNSCALE) -> BoundaryPlan:
    """The boundaries of every U-Net level for a width x height (pixels) image."""
    _check_int("width", width, 1, MAX_SIZE)
    _check_int("height", height, 1, MAX_SIZE)
    _check_int("base_resolution", base_resolution, 1, MAX_SIZE)
    _check_int("levels", levels, 1, MAX_LEVELS)
    _check_int("latent_downscale", latent_downscale, 1, 64)
    _check_int("jitter", jitter, 0, MAX_JITTER)
    if n != AUTO_BOUNDARIES:
        try:
            check_boundary_count(n)
        except ValueError as e:
            raise ValueError(str(e)) from None
    latent_w = width // latent_downscale
    latent_h = height // latent_downscale
    if latent_w < 1 or latent_h < 1:
        raise ValueError(f"width and height must be at least {latent_downscale} pixels "
                         f"(one latent cell; got {width}x{height})")
    base_latent = base_resolution / latent_downscale
    auto = n == AUTO_BOUNDARIES
    n = resolve_boundary_count(n, latent_h, latent_w, base_latent, base_latent)
    rows, cols = active_axes(latent_h, latent_w, base_latent, base_latent)
    plans = []
    for i, (h, w) in enumerate(level_sizes(latent_h, latent_w, levels)):
        b = virtual_boundaries(h, w, n, jitter=jitter, seed=seed, key=key, rows=rows, cols=cols)
        plans.append(LevelPlan(i, h, w, b))
    return BoundaryPlan(width, height, base_resolution, latent_downscale, latent_w, latent_h,
                        rows, cols, n, jitter, seed, key, tuple(plans), auto)


# ----------------------------------------------------------------------------------------------
# Layout


@dataclass(frozen=True)
class PanelBox:
    level: int
    x: int                      # top-left of the picture area in the output image
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    header_height: int
    panels: tuple[PanelBox, ...]
    column_width: int = 0       # a panel and its label; at least the panel's width
    label_height: int = LABEL_HEIGHT


def panel_size(frame_width: int, frame_height: int, long_side: int = PANEL_LONG_SIDE) -> tuple[int, int]:
    """Panel (width, height) with the frame's aspect ratio and the given long side."""
    if frame_width >= frame_height:
        return long_side, max(1, round(long_side * frame_height / frame_width))
    return max(1, round(long_side * frame_width / frame_height)), long_side


def panel_columns(levels: int, frame_width: int, frame_height: int) -> int:
    aspect = frame_width / frame_height
    if levels == 1 or aspect >= 2.0:
        return 1                               # wide panels stack vertically
    if aspect <= 0.5 or levels <= 3:
        return levels                          # tall panels (and SDXL's 3 levels) sit in one row
    return 2 if levels == 4 else 3


def layout_panels(levels: int, frame_width: int, frame_height: int, header_height: int,
                  label_width: int = 0, label_lines: int = 1) -> Layout:
    """Panels in rows and columns under the header.  A column is as wide as its panel or its label
    (label_width, measured), whichever is wider, so that labels of narrow panels never meet; a label
    takes label_lines lines."""
    pw, ph = panel_size(frame_width, frame_height)
    cols = panel_columns(levels, frame_width, frame_height)
    rows = -(-levels // cols)
    column = max(pw, label_width)
    label_height = LABEL_HEIGHT + LINE_HEIGHT * (label_lines - 1)
    width = max(cols * (column + GAP) + GAP, MIN_IMAGE_WIDTH)
    height = header_height + rows * (label_height + ph + GAP)
    boxes = []
    for i in range(levels):
        r, c = divmod(i, cols)
        x = GAP + c * (column + GAP)
        y = header_height + r * (label_height + ph + GAP) + label_height
        boxes.append(PanelBox(i, x, y, pw, ph))
    return Layout(width, height, header_height, tuple(boxes), column, label_height)


def panel_labels(plan: BoundaryPlan, measure, panel_width: int) -> list[list[str]]:
    """Each level's label as lines: one line ("level 0: 128x128 cells  ·  3 rings") where every
    label fits its panel's width, else two ("level 0: 128x384 cells" over "3 rings").  `measure`
    gives a text's width in pixels."""
    firsts = [f"level {lv.index}: {lv.width}x{lv.height} cells" for lv in plan.levels]
    if not plan.active:
        return [[f] for f in firsts]
    rings = f"{plan.n} rings"
    if all(measure(f"{f}  ·  {rings}") <= panel_width for f in firsts):
        return [[f"{f}  ·  {rings}"] for f in firsts]
    return [[f, rings] for f in firsts]


def line_pixel(offset: int, cells: int, pixels: int) -> int:
    """Panel pixel (row or column) of the boundary `offset` cells from the start of an axis of
    `cells` feature cells drawn over `pixels` pixels: the line between cell offset-1 and offset."""
    return min(pixels - 1, max(0, round(offset * pixels / cells)))


def lambda_color(lam: float) -> tuple[tuple[float, float, float], float]:
    """Colour and opacity of a ring: strong (red, opaque) at lambda 0, faint yellow at lambda 1."""
    rgb = tuple(s + (w - s) * lam for s, w in zip(STRONG, WEAK))
    return rgb, 1.0 - 0.85 * lam


# ----------------------------------------------------------------------------------------------
# Drawing


def _font(size: int = FONT_SIZE):
    try:
        return ImageFont.load_default(size)
    except TypeError:                 # Pillow < 10.1 without a scalable default font
        return ImageFont.load_default()


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, max_width: int) -> list[str]:
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        trial = w if not cur else cur + " " + w
        if cur and draw.textlength(trial, font=font) > max_width:
            lines.append(cur)
            cur = w
        else:
            cur = trial
    if cur:
        lines.append(cur)
    return lines


class _Layer:
    """A premultiplied RGBA layer: colour C and alpha A, painted with the 'over' operator."""

    def __init__(self, height: int, width: int):
        self.c = torch.zeros(height, width, 3)
        self.a = torch.zeros(height, width, 1)

    def fill(self, y0: int, y1: int, x0: int, x1: int, rgb, alpha: float) -> None:
        if y1 <= y0 or x1 <= x0 or alpha <= 0:
            return
        col = torch.tensor(rgb, dtype=torch.float32) * alpha
        c, a = self.c[y0:y1, x0:x1], self.a[y0:y1, x0:x1]
        c.mul_(1 - alpha).add_(col)
        a.mul_(1 - alpha).add_(alpha)

    def paint(self, rgba: torch.Tensor) -> None:
        """Composite a straight-alpha RGBA image (H, W, 4) in [0, 1] over the layer."""
        alpha = rgba[..., 3:4]
        self.c.mul_(1 - alpha).add_(rgba[..., :3] * alpha)
        self.a.mul_(1 - alpha).add_(alpha)

    def over_(self, background: torch.Tensor) -> torch.Tensor:
        """The layer over `background` (..., H, W, 3), written into `background` (no copy of a
        batch of pictures) and returned."""
        return background.mul_(1 - self.a).add_(self.c).clamp_(0, 1)


def header_lines(plan: BoundaryPlan, image_size: tuple[int, int] | None = None,
                 base_note: str = "") -> tuple[list[str], str | None]:
    """The text above the panels, and the notice for a size at or below the base (or None)."""
    p = plan
    lines = [f"PBC virtual boundaries for {p.width}x{p.height} px  ->  latent {p.latent_width}x"
             f"{p.latent_height} (1/{p.latent_downscale})  ·  base {p.base_resolution} px{base_note}"]
    notice = None
    if p.rows and p.cols:
        lines.append("Both axes are above the base: rings on every level.")
    elif p.cols:
        lines.append("Only the width is above the base: vertical boundaries only (long axis).")
    elif p.rows:
        lines.append("Only the height is above the base: horizontal boundaries only (long axis).")
    else:
        notice = (f"At or below the base ({p.base_resolution} px): PBC leaves this size untouched, "
                  "no virtual boundaries.")
        lines.append(notice)
    auto = " (auto: 1 per base size of scale beyond the first)" if p.auto else ""
    lines.append(f"N = {p.n}{auto} boundaries  ·  jitter ±{p.jitter} cells, seed {p.seed}: one jitter draw "
                 "is shown; the patcher redraws it every sampling step.")
    if image_size is not None:
        iw, ih = image_size
        if (iw, ih) != (p.width, p.height):
            sx, sy = iw / p.width, ih / p.height
            note = (f"The IMAGE is {iw}x{ih}, not {p.width}x{p.height}: the boundaries of {p.width}x"
                    f"{p.height} are scaled by {sx:.3g} x {sy:.3g} onto it")
            if abs(sx - sy) > 1e-3 * max(sx, sy):
                note += " (the aspect ratio differs, so the drawing is stretched)"
            lines.append(note + ".")
    return lines, notice


def _legend(layer: _Layer, draw: ImageDraw.ImageDraw, font, x: int, y: int, width: int) -> None:
    label_l, label_r = "edge: lambda -> 0, strong", "centre: lambda -> 1, nearly transparent"
    bar_x0 = x + int(draw.textlength(label_l, font=font)) + 10
    bar_x1 = max(bar_x0 + 60, x + width - int(draw.textlength(label_r, font=font)) - 10)
    for i in range(bar_x0, bar_x1):
        lam = (i - bar_x0) / max(1, bar_x1 - bar_x0 - 1)
        rgb, alpha = lambda_color(lam)
        layer.fill(y + 4, y + 14, i, i + 1, rgb, alpha)
    draw.text((x, y), label_l, font=font, fill=_rgba(TEXT))
    draw.text((bar_x1 + 10, y), label_r, font=font, fill=_rgba(TEXT))


def _rgba(rgb, alpha: float = 1.0) -> tuple[int, int, int, int]:
    return tuple(round(255 * v) for v in rgb) + (round(255 * alpha),)


def _draw_rings(layer: _Layer, box: PanelBox, level: LevelPlan, thickness: int) -> None:
    b = level.boundaries
    pw, ph = box.width, box.height
    # Faint feature-cell grid where cells are large enough to see.
    if pw / level.width >= 6 and ph / level.height >= 6:
        for c in range(1, level.width):
            x = box.x + line_pixel(c, level.width, pw)
            layer.fill(box.y, box.y + ph, x, x + 1, (1, 1, 1), GRID_ALPHA)
        for r in range(1, level.height):
            y = box.y + line_pixel(r, level.height, ph)
            layer.fill(y, y + 1, box.x, box.x + pw, (1, 1, 1), GRID_ALPHA)
    half = thickness // 2
    # Innermost (faint) first, so the strong outer rings are painted on top.
    for n in reversed(range(len(b.lambdas))):
        rgb, alpha = lambda_color(b.lambdas[n])
        r0, r1, c0, c1 = b.rect(n)
        y0, y1 = line_pixel(r0, level.height, ph), line_pixel(r1, level.height, ph)
        x0, x1 = line_pixel(c0, level.width, pw), line_pixel(c1, level.width, pw)
        X0, X1 = box.x + x0 - half, box.x + x1 - half + thickness
        Y0, Y1 = box.y + y0 - half, box.y + y1 - half + thickness
        clip_x = lambda v: min(max(v, box.x), box.x + pw)  # noqa: E731
        clip_y = lambda v: min(max(v, box.y), box.y + ph)  # noqa: E731
        if b.top[n] > 0:
            layer.fill(clip_y(Y0), clip_y(Y0 + thickness), clip_x(X0), clip_x(X1), rgb, alpha)
        if b.bottom[n] > 0:
            layer.fill(clip_y(Y1 - thickness), clip_y(Y1), clip_x(X0), clip_x(X1), rgb, alpha)
        if b.left[n] > 0:
            layer.fill(clip_y(Y0), clip_y(Y1), clip_x(X0), clip_x(X0 + thickness), rgb, alpha)
        if b.right[n] > 0:
            layer.fill(clip_y(Y0), clip_y(Y1), clip_x(X1 - thickness), clip_x(X1), rgb, alpha)


def _header_and_layout(plan: BoundaryPlan, frame: tuple[int, int], image_size, base_note: str, font):
    lines, notice = header_lines(plan, image_size, base_note)
    probe = ImageDraw.Draw(Image.new("RGBA", (8, 8)))       # measures text
    measure = lambda t: int(math.ceil(probe.textlength(t, font=font)))  # noqa: E731
    pw, _ = panel_size(*frame)
    labels = panel_labels(plan, measure, pw)
    label_width = max(measure(t) for lines_ in labels for t in lines_)
    cols = panel_columns(len(plan.levels), *frame)
    text_width = max(cols * (max(pw, label_width) + GAP) + GAP, MIN_IMAGE_WIDTH) - 2 * GAP
    wrapped = [w for line in lines for w in _wrap(probe, line, font, text_width)]
    header_height = GAP // 2 + LINE_HEIGHT * (len(wrapped) + 1) + GAP // 2
    layout = layout_panels(len(plan.levels), *frame, header_height, label_width, max(len(x) for x in labels))
    return wrapped, notice, text_width, layout, labels


def boundary_layout(plan: BoundaryPlan, image_size: tuple[int, int] | None = None,
                    base_note: str = "") -> Layout:
    """Where render_boundaries puts the panels (image_size = (width, height) of an IMAGE input)."""
    frame = image_size or (plan.width, plan.height)
    return _header_and_layout(plan, frame, image_size, base_note, _font())[3]


def render_boundaries(plan: BoundaryPlan, image: torch.Tensor | None = None,
                      base_note: str = "") -> tuple[torch.Tensor, Layout]:
    """Draw the plan as a ComfyUI IMAGE (B, H, W, 3) float32 in [0, 1], one panel per U-Net level.

    With an IMAGE (B, h, w, C) each panel shows it (resized to the panel) under the rings, and the
    panels take the IMAGE's aspect ratio; an IMAGE whose size is not width x height gets the
    boundaries scaled onto it, and the header says so.  Returns the picture and its layout.
    """
    font = _font()
    if image is not None:
        if image.ndim == 3:
            image = image.unsqueeze(0)
        if image.ndim != 4 or image.shape[0] < 1 or image.shape[1] < 1 or image.shape[2] < 1:
            raise ValueError(f"image must be a ComfyUI IMAGE of shape (batch, height, width, channels) "
                             f"(got {tuple(image.shape)})")
        frame = (int(image.shape[2]), int(image.shape[1]))
    else:
        frame = (plan.width, plan.height)
    wrapped, notice, text_width, layout, labels = _header_and_layout(
        plan, frame, frame if image is not None else None, base_note, font)
    H, W = layout.height, layout.width

    layer = _Layer(H, W)
    text = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    draw = ImageDraw.Draw(text)
    y = GAP // 2
    for line in wrapped:
        draw.text((GAP, y), line, font=font, fill=_rgba(NOTICE if notice and line in notice else TEXT))
        y += LINE_HEIGHT
    _legend(layer, draw, font, GAP, y, text_width)

    thickness = 2 if max(layout.panels[0].width, layout.panels[0].height) >= 256 else 1
    for box, level, label in zip(layout.panels, plan.levels, labels):
        for k, line in enumerate(label):
            draw.text((box.x, box.y - layout.label_height + 3 + k * LINE_HEIGHT), line, font=font, fill=_rgba(TEXT))
        _draw_rings(layer, box, level, thickness)
        if notice is not None:
            # centred on the panel, in its column; left out where the column is narrower (the
            # header says it too)
            msg = ["at or below the base:", "no virtual boundaries"]
            widths = [draw.textlength(m, font=font) for m in msg]
            if max(widths) <= layout.column_width:
                for k, (m, tw) in enumerate(zip(msg, widths)):
                    x = min(max(box.x, box.x + (box.width - tw) / 2), box.x + layout.column_width - tw)
                    draw.text((x, box.y + box.height / 2 - LINE_HEIGHT + k * LINE_HEIGHT),
                              m, font=font, fill=_rgba(NOTICE))
    layer.paint(torch.from_numpy(_pil_to_array(text)))

    background = torch.tensor(BACKGROUND).expand(H, W, 3).clone()
    if image is None:
        for box in layout.panels:
            background[box.y:box.y + box.height, box.x:box.x + box.width] = torch.tensor(PANEL)
        backgrounds = background.unsqueeze(0)
    else:
        pw, ph = layout.panels[0].width, layout.panels[0].height
        backgrounds = background.unsqueeze(0).repeat(image.shape[0], 1, 1, 1)
        for k in range(image.shape[0]):
            resized = resize_image(image[k], ph, pw)
            for box in layout.panels:
                backgrounds[k, box.y:box.y + ph, box.x:box.x + pw] = resized
    return layer.over_(backgrounds), layout


# Rows of the IMAGE converted and resized at a time (resize_image): 16 MiB of float32 RGB.
STRIP_BYTES = 16 << 20


def resize_image(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """One IMAGE (h, w, C) as float32 RGB in [0, 1], resized to (height, width, 3) with
    antialiased bilinear filtering: the same numbers as one F.interpolate call on the whole image
    (whose antialiased kernel filters the width first, then the height), in bounded memory.

    The width pass runs on strips of about STRIP_BYTES of rows, so the extra memory is one strip
    plus the h x width x 3 float32 result of the width pass (96 MiB at h = 16384, width = 512),
    not a float copy of the whole input (3 GiB at 16384 x 16384)."""
    h, w = int(image.shape[0]), int(image.shape[1])
    step = max(1, STRIP_BYTES // (w * 3 * 4))
    narrow = torch.empty(3, h, width)
    for y0 in range(0, h, step):
        strip = image[y0:y0 + step, :, :3].float()
        if strip.shape[-1] == 1:
            strip = strip.expand(*strip.shape[:-1], 3)
        strip = strip.clamp(0, 1).movedim(-1, 0).unsqueeze(0)
        narrow[:, y0:y0 + step] = F.interpolate(strip, size=(strip.shape[2], width), mode="bilinear",
                                                align_corners=False, antialias=True)[0]
    out = F.interpolate(narrow.unsqueeze(0), size=(height, width), mode="bilinear",
                        align_corners=False, antialias=True)[0]
    return out.clamp_(0, 1).movedim(0, -1)


def _pil_to_array(img: Image.Image):
    import numpy as np
    return np.asarray(img, dtype=np.float32) / 255.0


__all__ = ["BoundaryPlan", "LevelPlan", "Layout", "PanelBox", "MAX_BOUNDARIES", "MAX_SIZE",
           "plan_boundaries", "layout_panels", "panel_labels", "line_pixel", "lambda_color",
           "header_lines", "boundary_layout", "render_boundaries"]
