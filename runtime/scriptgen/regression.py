"""``train.py``'s regression part: MSE, MAE or Huber loss; validation MSE, RMSE, MAE, R²."""

from __future__ import annotations

from runtime.scriptgen.classification import NOISE_PRE
from runtime.scriptgen.parts import Facts, call, check_inputs, pick

__all__ = ["code"]

_LOSSES = {"mse": "F.mse_loss(pred, y, reduction=reduction)",
           "mae": "F.l1_loss(pred, y, reduction=reduction)",
           "huber": "F.huber_loss(pred, y, reduction=reduction, delta=@DELTA@)"}

_STEP = '''MODEL = @MODEL@  # the network that predicts
TARGET = @TARGET@  # the field holding the numbers to predict


def predict(nets: dict[str, nn.Module], batch: dict[str, torch.Tensor],
            noise: torch.Generator | None = None) -> torch.Tensor:
    """The prediction, shaped like the target ([B, 1] against [B] and the like)."""@NOISE_PRE@
    pred = @CALL@
    y = batch[TARGET]
    if pred.shape != y.shape and pred.numel() == y.numel():
        pred = pred.reshape(y.shape)
    return pred.float()


def loss_fn(pred: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    return @LOSS@


def train_step(nets: dict[str, nn.Module], optimizers: dict, batch: dict[str, torch.Tensor],
               noise: torch.Generator) -> dict[str, torch.Tensor]:
    loss = loss_fn(predict(nets, batch, noise), batch[TARGET].float())
    optimize(loss, nets[MODEL], optimizers[MODEL])
    return {"loss": loss.detach()}


def evaluate(nets: dict[str, nn.Module], val: dict[str, torch.Tensor],
             batch_size: int) -> dict[str, float]:
    """The loss and every view of the error over the whole validation part."""
    loss = sse = sae = sy = syy = n = 0
    for batch in in_order(val, batch_size):
        y = batch[TARGET].float()
        pred = predict(nets, batch)
        err = pred - y
        loss = loss + loss_fn(pred, y, "sum")
        sse, sae = sse + (err * err).sum(), sae + err.abs().sum()
        sy, syy = sy + y.sum(), syy + (y * y).sum()
        n += y.numel()
    n = max(1, n)
    mse = float(sse) / n
    metrics = {"loss": float(loss) / n, "mse": mse, "rmse": mse ** 0.5, "mae": float(sae) / n}
    sst = float(syy) - float(sy) ** 2 / n
    if sst > 0:
        metrics["r2"] = 1.0 - float(sse) / sst
    return metrics
'''


def code(facts: Facts) -> tuple[str, str]:
    check_inputs(facts, "model", ("Input", "Noise"))
    o = facts.options
    values = {
        "MODEL": repr(facts.names["model"]),
        "TARGET": repr(facts.recipe.target),
        "CALL": call(facts, "model", {}, "n", "device")
        + pick(facts, "model", o.get("output") or None),
        "NOISE_PRE": NOISE_PRE if any(s.block == "Noise" for s in
                                      facts.compiled("model").inputs) else "",
        "LOSS": _LOSSES[o["loss"]].replace("@DELTA@", repr(o["delta"])),
    }
    text = _STEP
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text, ""
