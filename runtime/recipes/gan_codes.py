"""What the GAN recipe's generator is given besides its noise: InfoGAN's latent codes
(Chen et al. 2016), a conditional GAN's labels, the prompt of ``layerloom sample`` that fixes
them, and the generator's arguments for pictures.

InfoGAN gives the generator a categorical code c ~ Cat(K), one-hot, and M continuous codes
c ~ U(−1, 1), through Inputs filled by the recipe (fields ``c_cat`` and ``c_cont``).  A head
Q on the discriminator's body (a second Output with K + M values: logits of the categorical
code, then the means of the continuous ones) tries to read the codes back from a fake.  The
lower bound of the mutual information, λ·(CE + ½·MSE), joins both networks' objectives, so
the generator learns to make every code change something Q can see: which digit, its slant,
its width, without ever being shown a label.

No ``Recipe`` subclass lives here (every module of this package is scanned for recipes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from runtime.events import Samples
from runtime.recipes.base import Feed, RecipeError, noise_like
from runtime.recipes.gan_parts import class_labels

__all__ = ["CAT", "CONT", "FEEDS", "STEPS", "Drawn", "Codes", "generator_args"]

CAT, CONT = "c_cat", "c_cont"
FEEDS = (
    Feed("generator", CAT, "InfoGAN's categorical code, one-hot [K]", required=False),
    Feed("generator", CONT, "InfoGAN's continuous codes [M], each U(−1, 1)", required=False),
)
STEPS = (-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0)  # a traversal's columns
SPREAD = 8  # rows (or columns) of distinct noise where no code spans that axis


@dataclass
class Drawn:
    """Codes for a batch: categorical values [n] (None when K = 0) and continuous codes
    [n, M] (None when M = 0)."""

    ids: Tensor | None
    cont: Tensor | None


class Codes:
    """K categorical and M continuous codes with weight λ; both 0: plain GAN, codes off."""

    def __init__(self, categorical: int, continuous: int, weight: float, q_output: str):
        self.k, self.m, self.weight, self.q_output = categorical, continuous, weight, q_output

    @property
    def on(self) -> bool:
        return self.k + self.m > 0

    def check_networks(self, recipe) -> None:
        """The generator has exactly the code Inputs the settings ask for, with their
        shapes, and the discriminator has the Q output."""
        gen = recipe.names["generator"]
        sizes = {CAT: (self.k, "categorical_codes"), CONT: (self.m, "continuous_codes")}
        present = {s.field: s for s in recipe.recipe_inputs("generator")}
        for field, (size, param) in sizes.items():
            spec = present.get(field)
            if spec is None and size:
                raise RecipeError(
                    f"{param} is {size}: add to the generator {gen!r} an Input with source "
                    f"'recipe', field {field!r} and shape [{size}]")
            if spec is not None and not size:
                raise RecipeError(
                    f"the generator {gen!r} has input {spec.name!r} for InfoGAN's {field!r}, "
                    f"but the recipe's {param} is 0: set it to the code's size or remove "
                    "the input")
            if spec is not None and tuple(spec.shape) != (size,):
                raise RecipeError(
                    f"the generator {gen!r}, input {spec.name!r} has shape "
                    f"{list(spec.shape)}; {param} is {size}, so it must be [{size}]")
        outputs = recipe.compiled["discriminator"].outputs
        if self.on and self.q_output not in outputs:
            raise RecipeError(
                f"InfoGAN codes are on, so the discriminator {recipe.names['discriminator']!r} "
                f"needs a second Output {self.q_output!r} with {self.k + self.m} values "
                f"(Q's guess of the codes); it has {', '.join(outputs)}")
        if self.on and len(outputs) < 2:
            raise RecipeError(
                f"the discriminator {recipe.names['discriminator']!r} needs a score Output "
                f"besides {self.q_output!r}")

    def check_q(self, q: Tensor, network: str) -> None:
        if q.dim() != 2 or q.shape[1] != self.k + self.m:
            raise RecipeError(
                f"the discriminator {network!r}'s output {self.q_output!r} gives "
                f"{list(q.shape[1:])} per sample; InfoGAN needs {self.k + self.m} values "
                f"({self.k} categorical logits + {self.m} continuous means)")

    # --- drawing and feeding -----------------------------------------------------------------

    def draw(self, n: int, device: torch.device, generator: torch.Generator | None) -> Drawn:
        ids = (torch.randint(0, self.k, (n,), device=device, generator=generator)
               if self.k else None)
        cont = (torch.rand((n, self.m), device=device, generator=generator) * 2 - 1
                if self.m else None)
        return Drawn(ids, cont)

    def feed(self, drawn: Drawn) -> dict[str, Tensor]:
        """The generator's code inputs by field."""
        out = {}
        if drawn.ids is not None:
            out[CAT] = F.one_hot(drawn.ids, self.k).float()
        if drawn.cont is not None:
            out[CONT] = drawn.cont
        return out

    def per_sample(self, q: Tensor, drawn: Drawn) -> tuple[Tensor, Tensor | None]:
        """(CE + ½·MSE per sample [n], Q's correct categorical guesses [n] or None)."""
        q = q.float()
        loss = torch.zeros(q.shape[0], device=q.device)
        correct = None
        if self.k:
            logits = q[:, :self.k]
            loss = loss + F.cross_entropy(logits, drawn.ids, reduction="none")
            correct = logits.argmax(1) == drawn.ids
        if self.m:
            loss = loss + 0.5 * (q[:, self.k:] - drawn.cont).square().mean(1)
        return loss, correct

    # --- layerloom sample's prompt ----------------------------------------------------------

    def form(self) -> str:
        """The prompt's expected form, in words, with an example."""
        example = ", ".join(("0.5", "-1", "0.25", "1", "-0.5")[i % 5] for i in range(self.m))
        if not self.k:
            return f'{self.m} continuous values separated by commas (e.g. "{example}")'
        pick = min(3, self.k - 1)
        one = f'a categorical value 0–{self.k - 1} (e.g. "{pick}")'
        if not self.m:
            return one
        return (f'{one}, or it followed by exactly {self.m} continuous value'
                f'{"s" if self.m > 1 else ""} (e.g. "{pick}, {example}")')

    def parse(self, prompt: str, recipe: str) -> tuple[int | None, list[float] | None]:
        """(the categorical value, the continuous values) a prompt fixes; None: drawn."""
        parts = [p.strip() for p in prompt.split(",")]
        refused = RecipeError(f"recipe {recipe!r}: the prompt {prompt!r} does not fit the "
                              f"InfoGAN codes; give {self.form()}")
        try:
            cont = [float(p) for p in parts[1 if self.k else 0:]]
        except ValueError:
            raise refused from None
        counts = (0, self.m) if self.k else (self.m,)
        if len(cont) not in counts or not all(math.isfinite(v) for v in cont):
            raise refused
        if not self.k:
            return None, cont
        first = parts[0]
        if not (first.isascii() and first.isdigit()) or int(first) >= self.k:
            raise refused
        return int(first), cont or None

    def prompted(self, n: int, prompt: str | None, recipe, generator: torch.Generator
                 ) -> tuple[Tensor | None, Drawn | None, list[str] | None]:
        """What conditions ``n`` samples of ``layerloom sample`` (on the CPU): the labels of
        a Label input (the classes in turn, or the one ``prompt`` names), the codes (drawn,
        or fixed by ``prompt``; with both, the prompt sets the codes), and their names."""
        spec = recipe.label_spec
        if prompt is not None and spec is None and not self.on:
            raise RecipeError(f"recipe {recipe.name!r} is not conditional: --prompt does not "
                              "apply")
        labels = names = drawn = None
        if spec is not None:
            labels, names = class_labels(n, None if self.on else prompt,
                                         int(spec.params.get("num_classes", 2)),
                                         recipe.info.class_names, recipe.name)
        if self.on:
            drawn = self.for_prompt(n, prompt, recipe.name, generator)
            if names is None and drawn.ids is not None:
                names = [f"c={int(i)}" for i in drawn.ids]
        return labels, drawn, names

    def for_prompt(self, n: int, prompt: str | None, recipe: str,
                   generator: torch.Generator) -> Drawn:
        """Codes for ``n`` samples of ``layerloom sample`` (on the CPU): drawn, with what the
        prompt fixes fixed."""
        drawn = self.draw(n, torch.device("cpu"), generator)
        if prompt is None:
            return drawn
        index, cont = self.parse(prompt, recipe)
        if index is not None:
            drawn.ids = torch.full((n,), index, dtype=torch.long)
        if cont is not None:
            drawn.cont = torch.tensor(cont).expand(n, self.m).clone()
        return drawn

    # --- traversals ---------------------------------------------------------------------

    def traversals(self, images: Callable[[int, Drawn, Tensor], Any], device: torch.device,
                   step: int, epoch: int) -> list[Samples]:
        """One grid per continuous code (the categorical code alone when M = 0), row-major:
        rows are the categorical values (distinct noise when K = 0), columns the code going
        −2…2 with the others at 0 (distinct noise when M = 0).  Where both axes are codes
        every cell has the same noise, so only the codes change.  ``images(n, drawn,
        cells)`` draws n images, cell i from the cells[i]-th fixed noise."""
        events = []
        for which in (range(self.m) if self.m else (None,)):
            rows = self.k or SPREAD
            cols = len(STEPS) if which is not None else SPREAD
            r = torch.arange(rows, device=device).repeat_interleave(cols)
            c = torch.arange(cols, device=device).repeat(rows)
            cont = None
            if self.m:
                cont = torch.zeros(rows * cols, self.m, device=device)
                if which is not None:
                    cont[:, which] = torch.tensor(STEPS, device=device)[c]
            cells = r if not self.k else (c if which is None else torch.zeros_like(r))
            row_names = ([f"c={i}" for i in range(rows)] if self.k
                         else [f"z{i + 1}" for i in range(rows)])
            col_names = ([f"{v:g}" for v in STEPS] if which is not None
                         else [f"z{i + 1}" for i in range(cols)])
            title = "code traversal" + (f" {CONT}[{which}]" if which is not None else "")
            pictures = images(rows * cols, Drawn(r if self.k else None, cont), cells)
            events.append(Samples(step, epoch, title, "images", pictures, None,
                                  {"cols": cols, "rows": row_names, "columns": col_names}))
        return events


def generator_args(recipe, n: int, noise: torch.Generator, labels: Tensor | None = None,
                   drawn: Drawn | None = None, batch=None, cells: Tensor | None = None,
                   temperature: float = 1.0) -> list[Tensor]:
    """The generator's arguments for ``n`` pictures, on the recipe's device: z from
    ``noise`` times ``temperature`` (``cells``: sample i takes the cells[i]-th z),
    ``labels`` (else the batch's), the codes ``drawn``."""
    feed = recipe.codes.feed(drawn) if drawn is not None else {}
    args = []
    for s in recipe.compiled["generator"].inputs:
        if s.block == "Noise":
            rows = n if cells is None else int(cells.max()) + 1
            z = noise_like(s, rows, noise.device, noise) * temperature
            args.append(z if cells is None else z[cells.to(z.device)])
        elif s.block == "LabelInput" and labels is not None:
            args.append(labels)
        elif s.field in feed:
            args.append(feed[s.field])
        elif batch is not None and s.field in batch:
            args.append(batch[s.field][:n])
        else:
            raise RecipeError(f"the generator {recipe.names['generator']!r} reads data field "
                              f"{s.field!r} (input {s.name!r}); samples need a generator of "
                              "noise, labels and codes alone")
    return [a.to(recipe.device) for a in args]
