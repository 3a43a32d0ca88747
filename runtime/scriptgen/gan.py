"""``train.py``'s GAN part: the discriminator's step(s), then the generator's, with the
standard (non-saturating), minimax, WGAN (weight clipping) or WGAN-GP loss, and the R1
penalty."""

from __future__ import annotations

from runtime.recipes.gan_parts import CRITICS
from runtime.scriptgen.parts import Facts, ScriptError, call, check_inputs, pick

__all__ = ["code"]

_D_LOSS = {
    "critic": "d_fake.mean() - d_real.mean()  # the critic widens E[D(real)] - E[D(fake)]",
    "bce": ("(F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, @REAL@))\n"
            "            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))"),
}
_G_LOSS = {
    "critic": "-d_gen.mean()",
    "minimax": "-F.softplus(d_gen).mean()  # log(1 - D(G(z))), the original game",
    "standard": "F.softplus(-d_gen).mean()  # -log D(G(z)), the non-saturating form",
}

_STEP = '''GENERATOR, DISCRIMINATOR = @G@, @D@
FIELD = @FIELD@  # the data field the generator imitates
D_STEPS = @D_STEPS@  # discriminator steps per generator step
CRITIC = @CRITIC@  # D gives raw critic scores (Wasserstein), not logits@CONSTS@


def generate(nets: dict[str, nn.Module], n: int, device: torch.device,
             noise: torch.Generator) -> torch.Tensor:
    return @G_CALL@


def judge(nets: dict[str, nn.Module], batch: dict[str, torch.Tensor],
          sample: torch.Tensor) -> torch.Tensor:
    """D's raw scores: one per sample [n], or a PatchGAN's map of them flattened [n, P]
    (each judges one patch of the input; the losses average over all of them)."""
    raw = @D_CALL@
    return raw.reshape(len(sample), -1) if raw.dim() > 2 else raw.reshape(len(sample), -1)[:, 0]


def per_sample(score: torch.Tensor) -> torch.Tensor:
    """One number per sample: the score itself, or the mean over a PatchGAN's patches."""
    return score.float() if score.dim() == 1 else score.float().mean(1)


def d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return @D_LOSS@


def g_loss(d_gen: torch.Tensor) -> torch.Tensor:
    return @G_LOSS@


def belief(score: torch.Tensor) -> torch.Tensor:
    """What D's score says: "real" as a probability, or a critic's raw value."""
    return score.float() if CRITIC else torch.sigmoid(score.float())
@PENALTY@

def train_step(nets: dict[str, nn.Module], optimizers: dict, batch: dict[str, torch.Tensor],
               noise: torch.Generator) -> dict[str, torch.Tensor]:
    real = batch[FIELD]
    n, extra = len(real), {}
    for _ in range(D_STEPS):
        fake = generate(nets, n, real.device, noise)
@R1_INPUT@        d_real = judge(nets, batch, real).float()
        d_fake = judge(nets, batch, fake.detach()).float()
        loss_d = d_loss(d_real, d_fake)@GP_STEP@@R1_STEP@
        optimize(loss_d, nets[DISCRIMINATOR], optimizers[DISCRIMINATOR])@CLIP_STEP@
    loss_g = g_loss(judge(nets, batch, fake).float())
    optimize(loss_g, nets[GENERATOR], optimizers[GENERATOR])
    r, f = belief(d_real.detach()).mean(), belief(d_fake.detach()).mean()
    if CRITIC:
        extra["wasserstein"] = r - f
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(), "d_real": r, "d_fake": f,
            **extra}


def evaluate(nets: dict[str, nn.Module], val: dict[str, torch.Tensor],
             batch_size: int) -> dict[str, float]:
    """D's beliefs (and losses, accuracy) on the validation data and on fakes from fixed
    noise (seed 4321 for every batch), averaged over the validation part."""
    totals: dict[str, torch.Tensor] = {}
    for batch in in_order(val, batch_size):
        real = batch[FIELD]
        n = len(real)
        fixed = torch.Generator(real.device).manual_seed(4321)
        fake = generate(nets, n, real.device, fixed)
        d_real = judge(nets, batch, real).float()
        d_fake = judge(nets, batch, fake).float()
        out = {"n": torch.tensor(n), "d_real": per_sample(belief(d_real)).sum(),
               "d_fake": per_sample(belief(d_fake)).sum()}
        if not CRITIC:  # a PatchGAN's accuracy: the share of its patches judged right
            right = per_sample((d_real > 0).float()) + per_sample((d_fake <= 0).float())
            out |= {"loss_d": d_loss(d_real, d_fake) * n, "loss_g": g_loss(d_fake) * n,
                    "d_accuracy": right.sum()}
        for k, v in out.items():
            totals[k] = totals[k] + v if k in totals else v
    n = max(1.0, float(totals.pop("n")))
    metrics = {k: float(v) / n for k, v in totals.items()}
    if CRITIC:  # E[D(real)] - E[D(fake)] on held-out data: the Wasserstein estimate
        metrics |= {"wasserstein": metrics["d_real"] - metrics["d_fake"],
                    "loss_g": -metrics["d_fake"]}
    else:
        metrics["d_accuracy"] /= 2  # of 2n judgements
    return metrics
'''

_PENALTY = '''

def gradient_penalty(nets, batch, real, fake, noise) -> torch.Tensor:
    """WGAN-GP: mean (|grad D(x)| - 1)^2 at points between real and fake samples."""
    eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), device=real.device,
                     generator=noise)
    mixed = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(per_sample(judge(nets, batch, mixed)).sum(), mixed,
                                  create_graph=True)
    norm = (grad.flatten(1).square().sum(1) + 1e-12).sqrt()
    return (norm - 1).square().mean()
'''


def code(facts: Facts) -> tuple[str, str]:
    o, recipe = facts.options, facts.recipe
    if recipe.codes.on:
        raise ScriptError("the training script cannot express InfoGAN codes yet")
    check_inputs(facts, "generator", ("Noise",))
    check_inputs(facts, "discriminator", ("Input",))
    loss = o["loss"]
    critic = loss in CRITICS
    field = o["field"]
    consts = ""
    if loss == "wgan":
        consts = f"\nCLIP = {o['clip']!r}  # every critic weight is kept in [-CLIP, CLIP]"
    r1 = o["r1"] > 0  # the recipe refuses it with a critic
    if r1:
        consts = f"\nR1 = {o['r1']!r}  # weight (gamma) of the R1 penalty on the real samples"
    if loss == "wgan_gp":
        consts = f"\nGP_WEIGHT = {o['gp_weight']!r}  # weight of the gradient penalty"
    d_loss = _D_LOSS["critic" if critic else "bce"].replace(
        "@REAL@", repr(1.0 - o["label_smoothing"]))
    values = {
        "G": repr(facts.names["generator"]), "D": repr(facts.names["discriminator"]),
        "FIELD": repr(field), "D_STEPS": repr(o["d_steps"]), "CRITIC": repr(critic),
        "CONSTS": consts,
        "G_CALL": call(facts, "generator", {}, "n", "device") + pick(facts, "generator", None),
        "D_CALL": call(facts, "discriminator", {field: "sample"}, "n", "device")
        + pick(facts, "discriminator", recipe.score),
        "D_LOSS": d_loss,
        "G_LOSS": _G_LOSS["critic" if critic else loss],
        "PENALTY": _PENALTY if loss == "wgan_gp" else "",
        "GP_STEP": ("\n        gp = gradient_penalty(nets, batch, real, fake, noise)"
                    "\n        loss_d = loss_d + GP_WEIGHT * gp"
                    "\n        extra[\"gp\"] = gp.detach()") if loss == "wgan_gp" else "",
        "R1_INPUT": ("        real = real.detach().requires_grad_(True)  # R1 differentiates "
                     "D there\n") if r1 else "",
        "R1_STEP": ("\n        (grad,) = torch.autograd.grad(per_sample(d_real).sum(), real,"
                    "\n                                      create_graph=True)"
                    "\n        r1 = grad.flatten(1).square().sum(1).mean()  # mean |grad D(x)|^2"
                    "\n        loss_d = loss_d + R1 / 2 * r1"
                    "\n        extra[\"r1\"] = r1.detach()") if r1 else "",
        "CLIP_STEP": ("\n        with torch.no_grad():  # WGAN: keep the critic Lipschitz"
                      "\n            for p in nets[DISCRIMINATOR].parameters():"
                      "\n                p.clamp_(-CLIP, CLIP)") if loss == "wgan" else "",
    }
    text = _STEP
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    # Layerloom's dry run before training draws one generator batch of two samples from
    # the noise stream; the script draws the same, so the streams stay in step.
    warmup = ("    for net in nets.values():  # as Layerloom's check of the networks before "
              "training\n        net.eval()\n    with torch.no_grad():\n"
              "        generate(nets, 2, device, noise)\n    for net in nets.values():\n"
              "        net.train()\n")
    return text, warmup
