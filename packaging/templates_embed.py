"""Gallery templates of word embeddings (written by packaging/build_templates.py).

Skip-gram's two tables as two networks: ``words`` (a center word id → its vector, the
vectors one keeps) and ``contexts`` (the true context and k noise word ids, filled by the
recipe → their vectors).
"""

from __future__ import annotations

from template_parts import _seq, lay_out

from builder.document import (
    DatasetConfig,
    Network,
    OptimizerConfig,
    Project,
    RecipeConfig,
    TrainingSettings,
)
from runtime.data import load

__all__ = ["BUILDERS"]


def _tables(vocab: int, dim: int) -> tuple[Network, Network]:
    words, contexts = Network("words"), Network("contexts")
    _seq(words, ("Input", "center", {"shape": [1], "kind": "tokens", "field": "center"}),
         ("Embedding", "vectors", {"vocab": vocab, "dim": dim}), ("Output", "u", {}))
    _seq(contexts, ("Input", "contexts", {"shape": ["K"], "kind": "tokens",
                                          "field": "contexts", "source": "recipe"}),
         ("Embedding", "vectors", {"vocab": vocab, "dim": dim}), ("Output", "v", {}))
    for net in (words, contexts):
        # Small random vectors: N(0, 1), torch's default, starts with dot products of
        # ±√dim, deep in the flat ends of σ.
        net.nodes["vectors"].init = "xavier"
        lay_out(net)
    return words, contexts


def word2vec() -> Project:
    dataset = DatasetConfig("analogies", {"val_fraction": 0.05})
    vocab = len(load(dataset.name, dataset.params).info.vocab)
    words, contexts = _tables(vocab, 32)
    return Project(
        networks={"words": words, "contexts": contexts},
        dataset=dataset,
        recipe=RecipeConfig("skipgram", {"words": "words", "contexts": "contexts"},
                            {"negatives": 5}),
        training=TrainingSettings(epochs=3, batch_size=1024,
                                  optimizers={"*": OptimizerConfig("adam", 0.01)},
                                  samples_every=50, samples_unit="steps"),
        description=(
            "Word vectors with skip-gram (word2vec)\n"
            "Each word gets a vector that predicts the words around it, against 5 noise "
            "words. Sentences about royalty, capitals, verb tenses and plurals give the "
            "vectors directions of meaning: watch the projector, ask it 'king - man + woman' "
            "and follow analogy_accuracy."),
    )


BUILDERS = {f.__name__: f for f in (word2vec,)}
