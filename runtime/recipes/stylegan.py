"""StyleGAN-lite: the GAN recipe with the pictures and the regulariser of a style-based
generator (Karras et al. 2019, 2020).

The generator maps noise z to a style w and feeds w to every style block (AdaIN or
ModulatedConv2d) of its synthesis network; NoiseInjection blocks add per-pixel noise.  This
recipe finds those blocks by their module class, in the order the generator runs them, and
changes what reaches them with forward pre-hooks: the trainer and the network stay as they
are.  ``style_mixing``: while training, that share of the fakes takes the styles of another
sample of the batch from a random block on, so no block may rely on its neighbours sharing
one style.  Pictures: the fixed-noise grid, a style-mixing grid (coarse styles, the blocks at
a quarter of the image's size or less, from the codes down the left; fine styles from the
codes along the top) and the noise inputs' effect (one code, several noise draws, and the
per-pixel standard deviation over the draws).
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from builder.blocks.modules.style import AdaIN, ModulatedConv2d, NoiseInjection
from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import RecipeError
from runtime.recipes.gan import GAN, _seeded
from runtime.recipes.gan_parts import PARAMS

__all__ = ["StyleGAN", "style_blocks"]

STYLED = (AdaIN, ModulatedConv2d)
MIX_ROWS, MIX_COLS = 4, 6  # codes giving coarse styles (rows), fine styles (columns)
NOISE_CODES, NOISE_DRAWS = 4, 5  # codes shown with several noise draws each
ROW_SEED, COL_SEED, NOISE_SEED = 1234, 4321, 77


def _style_arg(args: tuple, kwargs: dict) -> Tensor:
    return args[1] if len(args) > 1 else kwargs["w"]


def _with_style(args: tuple, kwargs: dict, w: Tensor) -> tuple[tuple, dict]:
    if len(args) > 1:
        return (args[0], w, *args[2:]), kwargs
    return args, {**kwargs, "w": w}


@contextmanager
def _pre_hooks(modules: list[nn.Module], hook):
    """``hook(index, module, args, kwargs)`` before each of ``modules`` runs, inside the
    block; it returns None or new (args, kwargs)."""
    handles = [m.register_forward_pre_hook(
        lambda mod, args, kwargs, i=i: hook(i, mod, args, kwargs), with_kwargs=True)
        for i, m in enumerate(modules)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def style_blocks(net: nn.Module, run) -> tuple[list[nn.Module], list[int]]:
    """The style blocks of ``net`` in the order ``run()`` (one forward) reaches them, and the
    height of the feature maps each one styles."""
    found = [m for m in net.modules() if isinstance(m, STYLED)]
    order: list[tuple[nn.Module, int]] = []

    def record(i, mod, args, kwargs):
        if all(mod is not m for m, _ in order):
            order.append((mod, int(args[0].shape[-2])))

    with _pre_hooks(found, record):
        run()
    return [m for m, _ in order], [h for _, h in order]


class StyleGAN(GAN):
    name = "stylegan"
    title = "StyleGAN"
    description = ("A style-based GAN: a mapping network turns noise into a style that "
                   "modulates every resolution of the generator, plus per-pixel noise.")
    params = (*PARAMS,
              Param("style_mixing", "float", 0.0, min=0.0, max=1.0,
                    help="Share of fakes that switch to another sample's style from a random "
                         "style block on while training (the paper: 0.9); 0 turns it off."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        net = self.nets["generator"]
        if not any(isinstance(m, STYLED) for m in net.modules()):
            raise RecipeError(f"the generator {self.names['generator']!r} has no style block "
                              "(AdaIN or ModulatedConv2d)")
        self.noise_blocks = [m for m in net.modules() if isinstance(m, NoiseInjection)]
        self._blocks: tuple[list[nn.Module], list[int]] | None = None

    def blocks(self) -> tuple[list[nn.Module], list[int]]:
        """The style blocks in running order and the height each styles (one dry run)."""
        if self._blocks is None:
            self._blocks = style_blocks(self.nets["generator"],
                                        lambda: self._make(1, _seeded(self.device, 0)))
        return self._blocks

    def coarse_count(self) -> int:
        """How many leading style blocks count as coarse: those at a quarter of the output's
        height or less (4×4 and 8×8 for 32×32 images); at least one, never all."""
        blocks, heights = self.blocks()
        out = self._make(1, _seeded(self.device, 0))
        limit = out.shape[-2] / 4 if out.dim() == 4 else 0
        coarse = sum(h <= limit for h in heights)
        return min(max(coarse, 1), max(len(blocks) - 1, 1))

    # --- training: style-mixing regularisation ------------------------------------------

    def _generate(self, batch, drawn, train=True, noise=None) -> Tensor:
        p = self.options["style_mixing"]
        blocks = self.blocks()[0]
        if not train or p <= 0 or len(blocks) < 2:
            return super()._generate(batch, drawn, train, noise)
        gen = self.generator
        dev = gen.device if gen is not None else self.device
        n = batch[self.field].shape[0]
        crossover = int(torch.randint(1, len(blocks), (1,), generator=gen, device=dev))
        mixed = (torch.rand(n, generator=gen, device=dev) < p).to(self.device)
        other = torch.randperm(n, generator=gen, device=dev).to(self.device)

        def mix(i, mod, args, kwargs):
            if i < crossover:
                return None
            w = _style_arg(args, kwargs)
            keep = mixed.reshape(-1, *[1] * (w.dim() - 1))
            return _with_style(args, kwargs, torch.where(keep, w[other], w))

        with _pre_hooks(blocks, mix):
            return super()._generate(batch, drawn, train, noise)

    # --- pictures ------------------------------------------------------------------------

    def samples(self, data, step, epoch):
        events = super().samples(data, step, epoch)
        val = data.val
        if (not isinstance(val, TensorData) or len(val) == 0 or val[self.field].dim() != 4
                or self.codes.on or self.label_spec is not None):
            return events
        events.append(self.mixing_grid(step, epoch))
        if self.noise_blocks:
            events.append(self.noise_picture(step, epoch))
        return events

    def _styles(self, n: int, seed: int) -> tuple[Tensor, list[Tensor]]:
        """``n`` unmixed fakes from noise ``seed`` and the style each style block received."""
        blocks = self.blocks()[0]
        seen: list[Tensor | None] = [None] * len(blocks)

        def grab(i, mod, args, kwargs):
            seen[i] = _style_arg(args, kwargs)

        with _pre_hooks(blocks, grab):
            fake = self._make(n, _seeded(self.device, seed))
        return fake, seen

    def mixing_grid(self, step: int, epoch: int) -> Samples:
        """Row 0: the fine-style codes unmixed; column 0: the coarse-style codes unmixed;
        cell (i, j): coarse styles of code i, fine styles of code j."""
        blocks = self.blocks()[0]
        coarse = self.coarse_count()
        rows, _ = self._styles(MIX_ROWS, ROW_SEED)
        cols, col_styles = self._styles(MIX_COLS, COL_SEED)
        row_of = torch.arange(MIX_ROWS * MIX_COLS, device=self.device) // MIX_COLS
        col_of = torch.arange(MIX_ROWS * MIX_COLS, device=self.device) % MIX_COLS

        def fine_from_columns(i, mod, args, kwargs):
            if i < coarse:
                return None
            return _with_style(args, kwargs, col_styles[i][col_of])

        with _pre_hooks(blocks, fine_from_columns):
            mixed = self._make(MIX_ROWS * MIX_COLS, _seeded(self.device, ROW_SEED),
                               cells=row_of)
        corner = torch.ones_like(rows[:1])
        grid = []
        for i in range(-1, MIX_ROWS):
            left = corner if i < 0 else rows[i:i + 1]
            right = cols if i < 0 else mixed[i * MIX_COLS:(i + 1) * MIX_COLS]
            grid += [left, right]
        sizes = self.blocks()[1]
        extra = {"cols": MIX_COLS + 1,
                 "rows": ["unmixed"] + [f"coarse from A{i + 1}" for i in range(MIX_ROWS)],
                 "columns": ["unmixed"] + [f"fine from B{j + 1}" for j in range(MIX_COLS)],
                 "coarse_blocks": coarse,
                 "block_sizes": sizes}
        return Samples(step, epoch, f"style mixing (coarse = the first {coarse} of "
                       f"{len(blocks)} style blocks)", "images",
                       self._images(torch.cat(grid)), None, extra)

    def noise_picture(self, step: int, epoch: int) -> Samples:
        """Each row one code: ``NOISE_DRAWS`` noise draws, then the per-pixel standard
        deviation over them (brightest: the pixels the noise changes most)."""
        draws = []
        gen = _seeded(self.device, NOISE_SEED)
        try:
            for block in self.noise_blocks:
                block.generator = gen
            for _ in range(NOISE_DRAWS):
                draws.append(self._images(self._make(NOISE_CODES, _seeded(self.device, ROW_SEED))))
        finally:
            for block in self.noise_blocks:
                block.generator = None
        stack = torch.from_numpy(np.stack(draws))  # [draws, codes, C, H, W] in [0, 1]
        spread = stack.std(dim=0).mean(dim=1, keepdim=True)  # [codes, 1, H, W]
        top = float(spread.max())
        shown = (spread / max(top, 1e-8)).expand(-1, stack.shape[2], -1, -1)
        cells = torch.cat([stack.transpose(0, 1), shown[:, None]], dim=1)
        extra = {"cols": NOISE_DRAWS + 1,
                 "rows": [f"code {i + 1}" for i in range(NOISE_CODES)],
                 "columns": [f"noise {d + 1}" for d in range(NOISE_DRAWS)]
                 + [f"std (white = {top:.3f})"],
                 "max_std": top}
        return Samples(step, epoch, "noise inputs: one code, other noise", "images",
                       cells.reshape(-1, *stack.shape[2:]).numpy(), None, extra)
