"""Node ids as Python names: the one mangling rule, and the way back to the user's names.

A node id becomes an attribute of the compiled ``torch.fx.GraphModule`` (``self.conv1``), an
argument of its ``forward`` (Inputs), and the same attribute and a local variable in the
generated code.  The user may call a node anything identifier-like (``builder.document.
valid_name``), so ids that are already taken there (``code``, ``graph``, ``forward``,
``training``, ``eval``… of a GraphModule, Python keywords such as ``class``, the names the
generated code uses: ``self``, ``torch``, ``nn``, ``F``, ``math``) get trailing underscores:
``code`` → ``code_``, or ``code__`` when another node is already called ``code_``.  So do
names Python would rewrite inside a class body (``__hidden`` → ``__hidden__``), since the
generated code must read the same state-dict keys as the compiled module.

The attribute names are internal: state-dict keys carry them (the compiled module and the
generated code alike, so saved weights load into both), while everything the user sees keeps
the node id, which the compiled module holds in each fx node's ``meta["layerloom_node"]``;
``user_names`` and ``attr_path`` read it.
"""

from __future__ import annotations

import functools
import keyword
from collections.abc import Iterable

from torch import fx, nn

__all__ = ["CODE_NAMES", "reserved", "is_reserved", "attr_names", "user_names", "user_path",
           "attr_path"]

# Module-level names of the generated code (and fx's ``self``), which a local must not hide.
CODE_NAMES = frozenset({"self", "torch", "nn", "F", "math"})


@functools.cache
def reserved() -> frozenset[str]:
    """Names a node id cannot be used as directly: every attribute of a GraphModule (class
    and instance: ``code``, ``graph``, ``meta``, ``training``…), Python's keywords and soft
    keywords, and ``CODE_NAMES``."""
    instance = fx.GraphModule(nn.Module(), fx.Graph())
    return frozenset(dir(instance)) | frozenset(dir(fx.GraphModule)) \
        | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | CODE_NAMES


def is_reserved(name: str) -> bool:
    """True when ``name`` cannot be an attribute or local as it is (see ``reserved``), or
    would be rewritten by Python's private-name mangling (``__x`` inside a class)."""
    return name in reserved() or (name.startswith("__") and not name.endswith("__"))


def attr_names(ids: Iterable[str]) -> dict[str, str]:
    """Node id → attribute name, for all the node ids of one network (in document order, so
    the compiler and the code generator agree).  Safe ids keep their name; a reserved one gets
    ``_`` appended until it is neither reserved nor another node's id or attribute name."""
    ids = list(ids)
    taken = {i for i in ids if not is_reserved(i)}
    out: dict[str, str] = {}
    for node_id in ids:
        name = node_id
        if is_reserved(name):
            name += "_"
            while is_reserved(name) or name in taken:
                name += "_"
            taken.add(name)
        out[node_id] = name
    return out


def user_names(module: nn.Module) -> dict[str, str]:
    """Attribute name → node id for the top-level modules of a compiled network (read from the
    fx graph); empty for a module Layerloom did not compile."""
    graph = module.graph if isinstance(module, fx.GraphModule) else None
    if graph is None:
        return {}
    return {n.target: n.meta["layerloom_node"] for n in graph.nodes
            if n.op == "call_module" and "layerloom_node" in n.meta}


def user_path(module: nn.Module, path: str) -> str:
    """A dotted module path (``block1_.forward_``) as the user's node ids (``block1.forward``);
    parts that are not node modules are kept as they are."""
    out = []
    for part in path.split(".") if path else []:
        out.append(user_names(module).get(part, part) if module is not None else part)
        module = getattr(module, "_modules", {}).get(part) if module is not None else None
    return ".".join(out)


def attr_path(module: nn.Module, path: str) -> str:
    """The inverse of ``user_path``: node ids (dotted inside groups) → the module path."""
    out = []
    for part in path.split(".") if path else []:
        attrs = {v: k for k, v in user_names(module).items()} if module is not None else {}
        out.append(attrs.get(part, part))
        module = getattr(module, "_modules", {}).get(out[-1]) if module is not None else None
    return ".".join(out)
