"""The autoencoder recipe: plain, denoising, sparse, contractive and variational variants,
anomaly detection with a held-out class, the pictures, the state and ``layerloom sample``,
and every autoencoder template trained for real through the Trainer."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from rt_helpers import splits

from builder.compiler import compile_network
from builder.document import Network
from builder.serialize import load
from resources import TEMPLATES
from runtime.data import FieldInfo
from runtime.evaluate import eval_mode
from runtime.events import Failure, Samples
from runtime.optimize import Optimization
from runtime.recipes import RecipeError, get
from runtime.recipes.ae_parts import (
    Gaussian,
    contractive_autograd,
    contractive_closed,
    corrupt,
)
from runtime.recipes.units import unnormalise
from runtime.sampling import sample_project, write_samples
from runtime.trainer import Trainer

SIDE, CLASSES = 8, 4
AE_TEMPLATES = ("ae_dense", "ae_conv", "ae_denoising", "ae_sparse", "ae_contractive", "vae",
                "beta_vae", "ae_anomaly")


# --- tiny data and networks ----------------------------------------------------------------


def images(n: int = 160, val: int = 40, seed: int = 0, **info):
    """8×8 images in [0, 1]: class c is a bright bar on rows 2c and 2c+1, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % CLASSES
    x = 0.05 * torch.rand(n, 1, SIDE, SIDE, generator=g)
    for c in range(CLASSES):
        x[y == c, 0, 2 * c:2 * c + 2] += 0.5 + 0.4 * torch.rand(int((y == c).sum()), 1, 1,
                                                                  generator=g)
    return splits({"x": x.clamp(0, 1), "y": y},
                  {"x": FieldInfo((1, SIDE, SIDE), "image", "float32"),
                   "y": FieldInfo((), "label", "int64")}, "classification", val=val,
                  num_classes=CLASSES, class_names=("a", "b", "c", "d"), **info)


def dense(code: int = 4, last: tuple[str, ...] = (), hidden: int = 32) -> tuple[Network, Network]:
    enc, dec = Network("enc"), Network("dec")
    enc.chain(enc.add("Input", id="x", shape=[1, SIDE, SIDE], kind="image"),
              enc.add("Flatten", id="flat"), enc.add("Linear", id="h", units=hidden),
              enc.add("ReLU", id="relu"), enc.add("Linear", id="fc", units=code),
              *[enc.add(b, id=f"last{i}") for i, b in enumerate(last)], enc.add("Output", id="c"))
    dec.chain(dec.add("Input", id="code", shape=[code], field="code", source="recipe"),
              dec.add("Linear", id="h", units=hidden), dec.add("ReLU", id="relu"),
              dec.add("Linear", id="fc", units=SIDE * SIDE),
              dec.add("Reshape", id="img", shape=[1, SIDE, SIDE]), dec.add("Output", id="y"))
    return enc, dec


def one_layer(code: int = 5) -> tuple[Network, Network]:
    """x → Flatten → Linear → Sigmoid: the closed-form contractive encoder."""
    enc, dec = Network("enc"), Network("dec")
    enc.chain(enc.add("Input", id="x", shape=[1, SIDE, SIDE], kind="image"),
              enc.add("Flatten", id="flat"), enc.add("Linear", id="fc", units=code),
              enc.add("Sigmoid", id="sig"), enc.add("Output", id="c"))
    dec.chain(dec.add("Input", id="code", shape=[code], field="code", source="recipe"),
              dec.add("Linear", id="fc", units=SIDE * SIDE),
              dec.add("Reshape", id="img", shape=[1, SIDE, SIDE]), dec.add("Output", id="y"))
    return enc, dec


def conv() -> tuple[Network, Network]:
    enc, dec = Network("enc"), Network("dec")
    enc.chain(enc.add("Input", id="x", shape=[1, SIDE, SIDE], kind="image"),
              enc.add("Conv2d", id="conv", filters=8, kernel=3, stride=2, padding=1),
              enc.add("ReLU", id="relu"), enc.add("Flatten", id="flat"),
              enc.add("Linear", id="fc", units=6), enc.add("Output", id="c"))
    dec.chain(dec.add("Input", id="code", shape=[6], field="code", source="recipe"),
              dec.add("Linear", id="fc", units=8 * 4 * 4), dec.add("ReLU", id="relu"),
              dec.add("Reshape", id="grid", shape=[8, 4, 4]),
              dec.add("ConvTranspose2d", id="up", filters=1, kernel=4, stride=2, padding=1),
              dec.add("Output", id="y"))
    return enc, dec


def vae(latent: int = 2, beta: float = 1.0) -> tuple[Network, Network]:
    """x → Linear → Tanh → (μ, log σ²) → Reparameterize → z, with a dense decoder."""
    enc, dec = Network("enc"), dense(code=latent)[1]
    enc.chain(enc.add("Input", id="x", shape=[1, SIDE, SIDE], kind="image"),
              enc.add("Flatten", id="flat"), enc.add("Linear", id="h", units=16),
              enc.add("Tanh", id="act"), enc.add("Linear", id="mu", units=latent))
    enc.add("Linear", id="logvar", units=latent)
    enc.connect("act", "logvar")
    enc.add("Reparameterize", id="rep", beta=beta)
    enc.connect("mu", "rep", dst_port="mu")
    enc.connect("logvar", "rep", dst_port="logvar")
    enc.connect("rep", enc.add("Output", id="z"))
    return enc, dec


def recipe(nets, data=None, **params):
    enc, dec = nets
    data = data or images()
    r = get("autoencoder")({"encoder": compile_network(enc), "decoder": compile_network(dec)},
                           data.info, params)
    r.generator = torch.Generator().manual_seed(0)
    return r


def context(r, lr: float = 1e-2, total: int = 100) -> Optimization:
    opts = {role: torch.optim.Adam(m.parameters(), lr) for role, m in r.nets.items()}
    return Optimization(r.nets, r.names, opts, torch.device("cpu"), total_steps=total)


def batch_of(data, n: int = 32, part: str = "train"):
    part = data.train if part == "train" else data.val
    return {k: v[:n] for k, v in part.items()}


def train(r, ctx, batch, steps: int) -> list[dict]:
    out = []
    for i in range(steps):
        ctx.begin(i, False)
        out.append({k: float(v) for k, v in r.step(ctx, batch).items()})
    return out


def recorded_inputs(r) -> list:
    """What the encoder is fed, call by call."""
    seen, forward = [], r.forward

    def spy(role, batch, train=True, replace=None):
        if role == "encoder":
            seen.append((replace or {}).get("x", batch.get("x")).detach().clone())
        return forward(role, batch, train, replace)

    r.forward = spy
    return seen


# --- plain and convolutional ----------------------------------------------------------------


@pytest.mark.parametrize("nets", [dense, conv], ids=["dense", "conv"])
def test_reconstruction_loss_drops(nets):
    torch.manual_seed(0)
    r = recipe(nets(), loss="bce")
    batch = batch_of(images(), 64)
    r.check(batch)
    history = train(r, context(r), batch, 40)
    assert history[-1]["loss"] < 0.7 * history[0]["loss"]
    assert set(history[0]) == {"loss", "mse"}  # nothing else is added to a plain one
    # summed over a sample's 64 values, averaged over the batch
    with torch.no_grad():
        out = r.decode(batch, r.encode(batch, batch["x"]))
    per = F.binary_cross_entropy_with_logits(out, batch["x"], reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(r.reconstruction(out, batch["x"]), per)


def test_bce_refuses_standardised_data_and_names_normalize():
    data = images(mean=(0.1,), std=(0.2,), stats={"x": ((0.1,), (0.2,))})
    r = recipe(dense(), data, loss="bce")
    with pytest.raises(RecipeError, match="normalize"):
        r.check(batch_of(data, 2))


def test_misfits_name_the_networks():
    enc, dec = dense(code=4)
    dec.nodes["code"].params["shape"] = [5]
    with pytest.raises(RecipeError, match=r"'enc' outputs codes of shape \[4\].*'dec'"):
        recipe((enc, dec)).check(batch_of(images(), 2))
    enc, dec = dense()
    dec.nodes["img"].params["shape"] = [2, 4, 8]
    with pytest.raises(RecipeError, match=r"decoder 'dec' outputs \[2, 4, 8\]"):
        recipe((enc, dec)).check(batch_of(images(), 2))
    with pytest.raises(RecipeError, match="'enc' needs an Input reading field 'pixels'"):
        recipe(dense(), field="pixels")


# --- denoising --------------------------------------------------------------------------------


def test_corruption_only_while_training():
    data = images()
    r = recipe(dense(), data, corruption="masking", noise=0.5)
    seen = recorded_inputs(r)
    batch = batch_of(data)
    train(r, context(r), batch, 1)
    assert not torch.equal(seen[-1], batch["x"])
    assert 0.35 < float((seen[-1] == 0).float().mean()) < 0.65
    val = batch_of(data, part="val")
    with torch.no_grad():
        r.eval_batch(val)
    assert torch.equal(seen[-1], val["x"])  # validation rebuilds the clean input
    with torch.no_grad():
        (view,) = [s for s in r.samples(data, 0, 0) if s.name == "reconstructions"]
    shown, target = view.data[0::3], view.data[2::3]
    assert view.extra["columns"][0] == "noisy input" and (shown != target).any()


def test_the_three_corruptions_do_what_they_say():
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(200, 1, 16, 16, generator=g)  # never exactly 0 or 1
    noisy = corrupt(x, "gaussian", 0.3, g)
    assert abs(float((noisy - x).std()) - 0.3) < 0.01 and abs(float((noisy - x).mean())) < 0.01
    masked = corrupt(x, "masking", 0.25, g)
    assert abs(float((masked == 0).float().mean()) - 0.25) < 0.01
    assert torch.equal(masked[masked != 0], x[masked != 0])
    salted = corrupt(x, "salt_pepper", 0.2, g)
    assert abs(float((salted == 0).float().mean()) - 0.1) < 0.01
    assert abs(float((salted == 1).float().mean()) - 0.1) < 0.01
    kept = (salted != 0) & (salted != 1)
    assert torch.equal(salted[kept], x[kept])
    assert corrupt(x, "none", 0.5, g) is x


def test_corruption_happens_in_the_datas_units():
    """On standardised data a masked pixel is black in the picture, not the mean."""
    data = images(mean=(0.1,), std=(0.2,), stats={"x": ((0.1,), (0.2,))})
    r = recipe(dense(), data, corruption="masking", noise=0.5)
    x = (batch_of(data)["x"] - 0.1) / 0.2
    raw = unnormalise(data.info, "x", r.corrupted(x, torch.Generator().manual_seed(1)))
    assert 0.35 < float((raw.abs() < 1e-6).float().mean()) < 0.65


# --- sparse -------------------------------------------------------------------------------


def test_sparsity_is_the_kl_to_rho_of_the_mean_activations():
    data = images()
    r = recipe(one_layer(), data, sparsity_weight=2.0, sparsity_target=0.1)
    batch = batch_of(data)
    with torch.no_grad():
        h = r.encode(batch, batch["x"])
        rebuilt = r.reconstruction(r.decode(batch, h), batch["x"]).mean()
    rho, rho_hat = 0.1, h.mean(0)
    kl = (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()
    (m,) = train(r, context(r), batch, 1)
    assert m["sparsity"] == pytest.approx(float(kl), rel=1e-5)
    assert m["loss"] == pytest.approx(float(rebuilt + 2.0 * kl), rel=1e-5)


def test_sparsity_needs_a_sigmoid_code():
    with pytest.raises(RecipeError, match="Sigmoid"), torch.no_grad():
        recipe(dense(), sparsity_weight=1.0).check(batch_of(images(), 2))


# --- contractive --------------------------------------------------------------------------


def finite_difference(f, x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """‖∂f/∂x‖²_F per sample by central differences, in float64."""
    x = x.double()
    flat = x.flatten(1)
    total = torch.zeros(len(x), dtype=torch.float64)
    for i in range(flat.shape[1]):
        step = torch.zeros_like(flat)
        step[:, i] = eps
        up, down = f((flat + step).view_as(x)), f((flat - step).view_as(x))
        total += ((up - down).flatten(1) / (2 * eps)).square().sum(1)
    return total


def exact_gradients(outputs, inputs):
    return torch.autograd.grad(outputs.sum(), inputs, create_graph=True)


def test_contractive_penalty_matches_finite_differences_on_both_paths():
    data = images()
    closed = recipe(one_layer(), data, contractive_weight=1.0)
    assert closed.linear is not None  # Linear → Sigmoid on the input: the closed form
    x = batch_of(data, 6)["x"]
    net = closed.nets["encoder"].double()
    reference = finite_difference(net, x)
    x_in = x.double().requires_grad_(True)
    h = net(x_in)
    torch.testing.assert_close(contractive_closed(h, closed.linear.weight).double(), reference,
                               rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(contractive_autograd(exact_gradients, h, x_in, None).double(),
                               reference, rtol=1e-4, atol=1e-6)
    deep = recipe(dense(code=3, last=("Sigmoid",)), data, contractive_weight=1.0)
    assert deep.linear is None  # more than one layer: through autograd
    net = deep.nets["encoder"].double()
    x_in = x.double().requires_grad_(True)
    torch.testing.assert_close(contractive_autograd(exact_gradients, net(x_in), x_in, None)
                               .double(), finite_difference(net, x), rtol=1e-4, atol=1e-6)


def test_contractive_step_and_the_projection_estimate():
    data = images()
    for nets in (one_layer(), dense(code=3, last=("Sigmoid",))):
        r = recipe(nets, data, contractive_weight=0.5)
        batch = batch_of(data, 8)
        expected = finite_difference(r.nets["encoder"].double(), batch["x"]).mean()
        r.nets["encoder"].float()
        (m,) = train(r, context(r), batch, 1)
        assert m["contractive"] == pytest.approx(float(expected.detach()), rel=1e-3)
    # above 64 units: one random projection, unbiased
    x = torch.randn(4, 5, requires_grad=True)
    w = torch.randn(80, 5)
    h = torch.sigmoid(x @ w.T)
    g = torch.Generator().manual_seed(0)
    estimate = torch.stack([contractive_autograd(exact_gradients, h, x, g)
                            for _ in range(400)]).mean(0)
    torch.testing.assert_close(estimate, contractive_closed(h, w), rtol=0.1, atol=0)


# --- variational ----------------------------------------------------------------------------


def test_elbo_is_recon_plus_beta_kl_summed_per_sample():
    data = images()
    r = recipe(vae(beta=2.0), data, loss="bce")
    batch = batch_of(data, 16, "val")
    with eval_mode(r.nets.values()), torch.no_grad():
        metrics, _ = r.eval_summary(r.eval_batch(batch), 16)
        rep = r.reparams[0]
        mu, logvar = rep.mu, rep.logvar
        out = r.decode(batch, mu)  # in eval the code is μ
    x = batch["x"]
    recon = F.binary_cross_entropy_with_logits(out, x, reduction="none").sum((1, 2, 3))
    kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).sum(1)
    assert metrics["recon"] == pytest.approx(float(recon.mean()), rel=1e-5)
    assert metrics["kl"] == pytest.approx(float(kl.mean()), rel=1e-5)
    assert metrics["loss"] == pytest.approx(float((recon + 2.0 * kl).mean()), rel=1e-5)


def test_the_kl_is_counted_once_and_anneals_with_progress():
    data = images()
    r = recipe(vae(beta=2.0), data, kl_warmup=0.5)
    ctx = context(r, total=100)
    given = []
    optimize = ctx.optimize
    ctx.optimize = lambda loss, *roles: (given.append(loss.detach()), optimize(loss, *roles))
    batch = batch_of(data)
    betas = []
    for step in (0, 25, 50, 80):
        ctx.begin(step, False)
        m = {k: float(v) for k, v in r.step(ctx, batch).items()}
        aux = float(ctx.extra["aux/enc/rep"].detach())
        assert m["loss"] == pytest.approx(m["recon"] + m["beta"] * m["kl"], rel=1e-5)
        assert float(given[-1]) == pytest.approx(m["recon"], rel=1e-5)  # KL not in it …
        assert aux == pytest.approx(m["beta"] * m["kl"], rel=1e-5, abs=1e-7)  # … added once
        betas.append(m["beta"])
    assert betas == pytest.approx([0.0, 1.0, 2.0, 2.0])
    assert r.betas == [2.0]  # the block's own β is remembered


# --- anomaly detection ------------------------------------------------------------------------


def test_the_held_out_class_never_reaches_a_training_step():
    data = images(n=200)
    r = recipe(dense(), data, holdout_class=2)
    seen = recorded_inputs(r)
    ctx = context(r)
    for i, batch in enumerate(data.train.batches(16, generator=torch.Generator())):
        ctx.begin(i, False)
        r.step(ctx, batch)
    fed = torch.cat(seen)
    assert len(fed) == 120 and not (fed[:, 0, 4:6] > 0.3).all((1, 2)).any()  # no 2's bar
    with torch.no_grad():
        metrics, _ = r.eval_summary(r.eval_batch(dict(data.val.items())), len(data.val))
    assert {"error_heldout", "error_others", "anomaly_gap", "anomaly_auc"} <= set(metrics)
    assert metrics["anomaly_gap"] == pytest.approx(metrics["error_heldout"]
                                                   - metrics["error_others"])
    assert 0 <= metrics["anomaly_auc"] <= 1


def test_a_batch_of_the_held_out_class_alone_is_skipped():
    data = images()
    r = recipe(dense(), data, holdout_class=1)
    seen = recorded_inputs(r)
    only = {k: v[data.train["y"] == 1][:4] for k, v in data.train.items()}
    ctx = context(r)
    ctx.begin(0, False)
    assert {k: float(v) for k, v in r.step(ctx, only).items()} == {"loss": 0.0}
    assert not seen


def test_holdout_needs_labels():
    data = images()
    with pytest.raises(RecipeError, match="not a class"):
        recipe(dense(), data, holdout_class=CLASSES)
    with pytest.raises(RecipeError, match="no label field 'digit'"):
        recipe(dense(), data, holdout_class=0, label="digit")


# --- pictures, state, sampling ------------------------------------------------------------


def views(r, data) -> dict[str, Samples]:
    with eval_mode(r.nets.values()), torch.no_grad():
        r.eval_summary(r.eval_batch(dict(data.val.items())), len(data.val))  # fits the prior
        return {s.name: s for s in r.samples(data, 3, 1)}


def test_samples_show_the_promised_views():
    data = images(n=200, val=60)
    shown = views(recipe(vae(latent=3), data, loss="bce"), data)
    assert set(shown) == {"reconstructions", "samples from the prior", "latent space",
                          "latent traversal"}
    rec = shown["reconstructions"]
    assert rec.kind == "images" and rec.data.shape == (48, 1, SIDE, SIDE)
    assert rec.extra["cols"] == 3 and rec.extra["columns"][0] == "input"
    assert 0 <= rec.data.min() and rec.data.max() <= 1
    assert shown["samples from the prior"].data.shape == (64, 1, SIDE, SIDE)
    walk = shown["latent traversal"]
    assert walk.data.shape == (24, 1, SIDE, SIDE) and walk.extra["cols"] == 8
    assert walk.extra["rows"] == ["z0", "z1", "z2"] and len(walk.extra["columns"]) == 8
    points = shown["latent space"]
    assert points.kind == "points" and points.data.shape == (60, 2)
    assert set(points.labels.tolist()) == set(range(CLASSES))
    assert points.extra["names"] == ["a", "b", "c", "d"]
    shown = views(recipe(one_layer(code=5), data, sparsity_weight=1.0, sparsity_target=0.2,
                         holdout_class=3), data)
    bars = shown["unit activation vs ρ"]
    assert bars.kind == "bars" and bars.data.shape == (5,) and bars.extra["reference"] == 0.2
    hist = shown["reconstruction error by class"]
    assert hist.kind == "histogram" and len(hist.data) == CLASSES
    assert hist.labels == ["a", "b", "c", "d"] and hist.extra["highlight"] == 3
    assert sum(len(a) for a in hist.data) == 60
    assert shown["latent traversal"].data.shape == (40, 1, SIDE, SIDE)  # 5 dims × 8 steps


def test_state_round_trips_and_sample_draws_from_it():
    data = images()
    r = recipe(dense(code=3), data)
    assert r.state_dict() == {}
    views(r, data)
    state = r.state_dict()
    assert set(state) == {"prior"} and state["prior"]["scale"].shape == (3, 3)
    other = recipe(dense(code=3), data)
    other.nets["decoder"].load_state_dict(r.nets["decoder"].state_dict())
    with pytest.raises(RecipeError, match="no fitted code distribution"):
        other.sample(4, torch.Generator().manual_seed(0))
    other.load_state_dict(state)
    a = r.sample(5, torch.Generator().manual_seed(7))
    b = other.sample(5, torch.Generator().manual_seed(7))
    assert a.kind == "images" and a.data.shape == (5, 1, SIDE, SIDE)
    assert (a.data == b.data).all()
    with pytest.raises(RecipeError, match="not conditional"):
        r.sample(4, torch.Generator(), prompt="7")
    with pytest.raises(RecipeError, match="keeps only"):
        other.load_state_dict({"ema": 1})


def test_the_code_distribution_is_fitted_from_additive_sums():
    codes = torch.randn(500, 3) @ torch.tensor([[2.0, 0, 0], [0.5, 1, 0], [0, 0, 0.3]]) + 1.0
    halves = [Gaussian.sums(c, torch.ones(len(c))) for c in codes.split(250)]
    fit = Gaussian.fit({k: halves[0][k] + halves[1][k] for k in halves[0]})
    torch.testing.assert_close(fit.mean, codes.mean(0))
    torch.testing.assert_close(fit.scale @ fit.scale.T, torch.cov(codes.T, correction=0),
                               rtol=1e-3, atol=1e-3)
    draws = fit.draw(torch.randn(20_000, 3, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(draws.std(0), codes.std(0), rtol=0.05, atol=0)


def test_vae_samples_come_from_the_prior_with_temperature():
    r = recipe(vae(latent=2))
    captured = []
    decode = r.decode
    r.decode = lambda batch, z, train=True: (captured.append(z), decode(batch, z, train))[1]
    out = r.sample(6, torch.Generator().manual_seed(0), temperature=0.5)
    assert out.data.shape == (6, 1, SIDE, SIDE)
    expected = torch.randn(6, 2, generator=torch.Generator().manual_seed(0)) * 0.5
    torch.testing.assert_close(captured[0], expected)


# --- the templates, trained for real --------------------------------------------------------


@pytest.mark.parametrize("name", AE_TEMPLATES)
def test_template_trains_two_steps(name, events):
    p = load(TEMPLATES / f"{name}.loom")
    assert p.recipe.name == "autoencoder" and set(p.networks) == {"encoder", "decoder"}
    p.dataset.params["n_samples"] = 100
    p.training.batch_size = 16
    finished = Trainer(p, callback=events, device="cpu").fit(max_steps=2)
    assert finished.reason == "max_steps", events.of(Failure)
    assert math.isfinite(finished.final["loss"])


def test_layerloom_sample_draws_from_a_trained_run(tmp_path, events):
    p = load(TEMPLATES / "ae_dense.loom")
    p.dataset.params["n_samples"] = 100
    p.training.batch_size = 16
    finished = Trainer(p, callback=events, device="cpu", run_dir=tmp_path / "run").fit(
        max_steps=2)
    assert finished.reason == "max_steps", events.of(Failure)
    samples = sample_project(p, tmp_path / "run", n=9, seed=3)
    assert samples.kind == "images" and samples.data.shape == (9, 1, 28, 28)
    assert "9 images" in write_samples(samples, tmp_path / "grid.png")
    with pytest.raises(RecipeError, match="not conditional"):
        sample_project(p, tmp_path / "run", n=2, prompt="3")
