"""``train.py``'s classification part: cross-entropy on logits, accuracy (and top-k)."""

from __future__ import annotations

from runtime.scriptgen.parts import Facts, ScriptError, call, check_inputs, pick

__all__ = ["code"]

NOISE_PRE = "\n    n, device = len(batch[TARGET]), batch[TARGET].device"

_STEP = '''MODEL = @MODEL@  # the network that classifies
TARGET = @TARGET@  # the field holding the class of each sample


def predict(nets: dict[str, nn.Module], batch: dict[str, torch.Tensor],
            noise: torch.Generator | None = None) -> torch.Tensor:
    """One logit per class and sample."""@NOISE_PRE@
    return @CALL@


def flat(logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores [B, T, C] against targets [B, T]: one class per position."""
    if logits.dim() > 2:
        return logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
    return logits, y


def train_step(nets: dict[str, nn.Module], optimizers: dict, batch: dict[str, torch.Tensor],
               noise: torch.Generator) -> dict[str, torch.Tensor]:
    logits, y = flat(predict(nets, batch, noise), batch[TARGET])
    loss = F.cross_entropy(logits.float(), y@SMOOTHING@)
    optimize(loss, nets[MODEL], optimizers[MODEL])
    accuracy = (logits.detach().argmax(1) == y).float().mean()
    return {"loss": loss.detach(), "accuracy": accuracy}


def evaluate(nets: dict[str, nn.Module], val: dict[str, torch.Tensor],
             batch_size: int) -> dict[str, float]:
    """Mean loss and accuracy over the whole validation part."""
    loss = correct = n = 0@TOP_INIT@
    for batch in in_order(val, batch_size):
        logits, y = flat(predict(nets, batch).float(), batch[TARGET])
        loss = loss + F.cross_entropy(logits, y, reduction="sum")
        correct = correct + (logits.argmax(1) == y).sum()
        n += y.numel()@TOP_ADD@
    n = max(1, n)
    metrics = {"loss": float(loss) / n, "accuracy": float(correct) / n}@TOP_OUT@
    return metrics
'''


def code(facts: Facts) -> tuple[str, str]:
    """(the recipe's functions, warm-up lines before training: none here)."""
    recipe = facts.recipe
    if recipe.per_step:
        raise ScriptError("the training script cannot express classification of token "
                          "sequences (padding-aware, per position) yet")
    check_inputs(facts, "model", ("Input", "Noise"))
    smoothing = facts.options["label_smoothing"]
    k = recipe.k
    top = {"TOP_INIT": "", "TOP_ADD": "", "TOP_OUT": ""}
    if k:
        top = {"TOP_INIT": "\n    top = 0",
               "TOP_ADD": f"\n        top = top + (logits.topk({k}, dim=1).indices "
                          "== y[:, None]).any(1).sum()",
               "TOP_OUT": f"\n    metrics[\"top{k}_accuracy\"] = float(top) / n"}
    values = {
        "MODEL": repr(facts.names["model"]),
        "TARGET": repr(recipe.target),
        "CALL": call(facts, "model", {}, "n", "device")
        + pick(facts, "model", facts.options.get("output") or None),
        "NOISE_PRE": NOISE_PRE if any(s.block == "Noise" for s in
                                      facts.compiled("model").inputs) else "",
        "SMOOTHING": f", label_smoothing={smoothing!r}" if smoothing else "",
        **top,
    }
    text = _STEP
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text, ""
