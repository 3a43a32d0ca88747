"""Greedy layer-wise pre-training's parts: finding the stack in the compiled graph, the net
that computes a layer's input through the frozen layers below, the shared base of the
one-layer sub-recipes and their pictures.  ``layerwise.py`` assembles them."""

from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import Tensor, fx, nn

from builder.blocks.modules.rbm import RBM
from builder.blocks.spec import Param
from runtime.data.core import TensorData
from runtime.events import Samples
from runtime.recipes.base import Recipe, RecipeError, Role

__all__ = ["weighted_nodes", "stack_layers", "input_net", "unit_modules", "LayerRecipe",
           "id_list"]

SHOWN = 10  # validation digits in the reconstruction rows
FILTERS = 64  # first-layer filters shown
# model → {layer id: weak reference to the sub-recipe that can map its codes back down}: the
# stages' sub-recipes are built side by side at setup, so a deeper layer's pictures can go
# back to pixels through the decoders of the layers below.
_DOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def id_list(text: str) -> list[str]:
    """``"h1, h2"`` → ``["h1", "h2"]``."""
    return [s.strip() for s in text.split(",") if s.strip()]


def _canvas(node: fx.Node) -> str:
    return node.meta.get("layerloom_node", node.name)


def weighted_nodes(gm: fx.GraphModule) -> list[tuple[str, nn.Module]]:
    """(canvas id, module) of the top-level layers that have weights, in graph order."""
    out = []
    for node in gm.graph.nodes:
        if node.op == "call_module":
            module = gm.get_submodule(node.target)
            if any(True for _ in module.parameters()):
                out.append((_canvas(node), module))
    return out


def _fits(module: nn.Module, method: str) -> bool:
    if method == "rbm":
        return isinstance(module, RBM)
    return isinstance(module, (nn.Linear, RBM))


def stack_layers(gm: fx.GraphModule, method: str, layers: list[str], head: str,
                 network: str) -> tuple[list[str], str]:
    """(the layers to pre-train, bottom first; the head's id).  Defaults: the head is the
    last layer with weights, and every layer below it that ``method`` can pre-train."""
    weighted = weighted_nodes(gm)
    where = f"recipe 'layerwise', network {network!r}"
    if len(weighted) < 2:
        raise RecipeError(f"{where}: layer-wise pre-training needs hidden layers below an "
                          "output layer; the network has "
                          f"{len(weighted)} layer(s) with weights")
    ids = [i for i, _ in weighted]
    head = head or ids[-1]
    if head not in ids:
        raise RecipeError(f"{where}: head {head!r} is not a layer with weights; those are "
                          f"{', '.join(ids)}")
    below = weighted[:ids.index(head)]
    kind = "RBM blocks" if method == "rbm" else "Linear or RBM layers"
    if not layers:
        layers = [i for i, m in below if _fits(m, method)]
        if not layers:
            found = ", ".join(f"{i} ({type(m).__name__})" for i, m in below) or "none"
            hint = "; use RBM blocks, or choose method 'autoencoder'" if method == "rbm" else ""
            raise RecipeError(f"{where}: method {method!r} pre-trains {kind}, and there are "
                              f"none below the head {head!r}: it has {found}{hint}")
    known = dict(below)
    for node in layers:
        if node not in known:
            raise RecipeError(f"{where}: layer {node!r} is not a layer with weights below the "
                              f"head {head!r}; those are {', '.join(known) or 'none'}")
        if not _fits(known[node], method):
            hint = (" (replace it with an RBM block, or choose method 'autoencoder')"
                    if method == "rbm" else "")
            raise RecipeError(f"{where}: layer {node!r} is a {type(known[node]).__name__}; "
                              f"method {method!r} pre-trains {kind}{hint}")
    order = {i: k for k, i in enumerate(ids)}
    return sorted(dict.fromkeys(layers), key=order.__getitem__), head


def _node(gm: fx.GraphModule, node_id: str, where: str) -> fx.Node:
    for node in gm.graph.nodes:
        if node.op == "call_module" and _canvas(node) == node_id:
            if len(node.args) != 1 or not isinstance(node.args[0], fx.Node):
                raise RecipeError(f"{where}: layer {node_id!r} must take one input")
            return node
    raise RecipeError(f"{where}: the network has no layer {node_id!r}")


def input_net(gm: fx.GraphModule, node_id: str, where: str) -> fx.GraphModule:
    """A module with the network's inputs that returns what layer ``node_id`` receives: the
    network cut just below the layer, sharing its modules (so the frozen layers below are
    the very ones that were pre-trained)."""
    target = _node(gm, node_id, where).args[0]
    graph, env = fx.Graph(), {}
    for node in gm.graph.nodes:
        if node.op == "output":
            continue
        env[node] = graph.node_copy(node, lambda n: env[n])
        if node is target:
            break
    for node in gm.graph.nodes:  # keep every input, so the network's arguments still fit
        if node.op == "placeholder" and node not in env:
            env[node] = graph.node_copy(node, lambda n: env[n])
    graph.output(env[target])
    return fx.GraphModule(gm, graph)


def unit_modules(gm: fx.GraphModule, node_id: str, where: str) -> list[nn.Module]:
    """The layer and the weightless one-input modules right after it (its activation): what
    turns the layer's input into the code the next layer sees."""
    node = _node(gm, node_id, where)
    modules = [gm.get_submodule(node.target)]
    while len(node.users) == 1:
        (nxt,) = node.users
        if nxt.op != "call_module" or len(nxt.args) != 1:
            break
        module = gm.get_submodule(nxt.target)
        if any(True for _ in module.parameters()):
            break
        modules.append(module)
        node = nxt
    return modules


class LayerRecipe(Recipe):
    """One layer of the stack trained alone on what the frozen layers below give it.
    Subclasses define ``code``, ``down`` (a code back to the layer's input), the step and
    the validation sums."""

    roles = (Role("model", "The network whose layer is pre-trained."),)
    tasks = ()
    params = (
        Param("layer", "str", "", help="The layer (node id) to pre-train."),
        Param("below", "str", "",
              help="The pre-trained layers under it, bottom first (comma-separated node "
                   "ids): their down passes take reconstructions back to the input."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        gm = self.nets["model"]
        node = self.options["layer"]
        where = f"recipe {self.name!r}"
        if not node:
            raise RecipeError(f"{where}: name the layer to pre-train (param layer)")
        if not isinstance(gm, fx.GraphModule):
            raise RecipeError(f"{where} needs a network compiled from a canvas")
        self.layer_id = node
        self.below_net = input_net(gm, node, where)
        self.unit = unit_modules(gm, node, where)
        self.layer = self.unit[0]
        self.stack = id_list(self.options["below"])
        self.first = self.stack[0] if self.stack else node
        _DOWN.setdefault(gm, {})[node] = weakref.ref(self)

    # --- the layer's data ----------------------------------------------------------------

    def visible(self, batch: dict[str, Tensor]) -> Tensor:
        """What the layer receives from the frozen layers below, one row per sample."""
        with torch.no_grad():
            v = self.below_net(*self.inputs("model", batch))
        return v.detach().reshape(-1, v.shape[-1]).float()

    def code(self, v: Tensor) -> Tensor:
        for module in self.unit:
            v = module(v)
        return v

    def down(self, h: Tensor) -> Tensor:
        raise NotImplementedError

    def check(self, batch):
        self.code(self.visible(batch))

    def eval_summary(self, totals, count):
        n = max(1.0, float(totals.pop("n")))
        return {k: float(v) / n for k, v in totals.items()}, {}

    # --- pictures ------------------------------------------------------------------------

    def _image(self) -> tuple[str, tuple[int, ...]] | None:
        """(field, shape) of the network's one image input; None for other inputs."""
        fed = self.fed_inputs("model")
        if len(fed) != 1 or len(fed[0].shape) != 3 or \
                not all(isinstance(d, int) for d in fed[0].shape):
            return None
        return fed[0].field, tuple(fed[0].shape)

    def _pixels(self, images: Tensor) -> Tensor:
        """Images in the data's units back to [0, 1] for showing."""
        images = images.float()
        if self.info.mean is not None and self.info.std is not None:
            shape = (1, -1, 1, 1)
            images = images * torch.tensor(self.info.std, device=images.device).view(shape) \
                + torch.tensor(self.info.mean, device=images.device).view(shape)
        return images.clamp(0, 1)

    def _down_to_image(self, v: Tensor, shape: tuple[int, ...]) -> Tensor | None:
        """Values of this layer's input taken down through the stack below to the input
        image; None where a layer below cannot go down or the bottom layer does not read
        the image itself."""
        known = _DOWN.get(self.nets["model"], {})
        for node in reversed(self.stack):
            ref = known.get(node)
            lower = ref() if ref is not None else None
            if lower is None:
                return None
            v = lower.down(v)
        if int(np.prod(shape)) != v.shape[-1]:
            return None
        return self._pixels(v.reshape(-1, *shape))

    def samples(self, data, step, epoch):
        val = data.val
        if not isinstance(val, TensorData) or len(val) == 0:
            return []
        image = self._image()
        if image is None:
            return []
        field, shape = image
        batch = {k: v[:SHOWN] for k, v in val.items()}
        events = []
        rebuilt = self._down_to_image(self.down(self.code(self.visible(batch))), shape)
        if rebuilt is not None:
            shown = torch.cat([self._pixels(batch[field]), rebuilt])
            events.append(Samples(step, epoch, f"reconstructions · {self.layer_id}", "images",
                                  shown.cpu().numpy(), None,
                                  {"cols": len(rebuilt), "rows": ["input", "reconstruction"]}))
        bottom = dict(weighted_nodes(self.nets["model"])).get(self.first)
        if bottom is not None and bottom.weight.shape[1] == int(np.prod(shape)):
            w = bottom.weight.detach()[:FILTERS].float()
            lo, hi = w.min(1, keepdim=True).values, w.max(1, keepdim=True).values
            w = ((w - lo) / (hi - lo).clamp_min(1e-8)).reshape(-1, *shape)
            events.append(Samples(step, epoch, f"first-layer filters · {self.first}",
                                  "images", w.cpu().numpy(), None, {"cols": 8}))
        return events
