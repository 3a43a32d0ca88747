"""``layerloom predict FILE --weights RUNDIR INPUT... [--top K] [--json]``.

Kept apart from ``runtime.predict`` so that building the parser costs nothing: the
predictor (torch, the datasets, the recipes) is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import json
import sys

from runtime.cli import EXIT_INPUT, EXIT_OK, EXIT_PROBLEMS, _fail, _positive, command

__all__ = ["add_parser", "predict_command", "TOP"]

TOP = 5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="a trained model's answers for images, .npy arrays, "
                                       "CSV rows or text")
    p.add_argument("file", help="a .loom project")
    p.add_argument("--weights", required=True, metavar="RUNDIR",
                   help="a run folder (<network>.safetensors) or one .safetensors file")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="an image (.png, .jpg), a .npy array, a .csv file (one input per "
                        "row), an inline row such as 1.5,2,3, or text for token inputs")
    p.add_argument("--top", type=_positive, default=TOP, metavar="K",
                   help=f"classes shown per input (default {TOP})")
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("predict")
def predict_command(args) -> int:
    from builder.serialize import load
    from runtime.assemble import SetupError
    from runtime.checkpoint import CheckpointError
    from runtime.predict import InputError, PredictError, Predictor
    from runtime.preprocess import PreprocessError
    from runtime.recipes.base import RecipeError
    from runtime.runlog import weights_warning
    from runtime.sampling import SampleError

    project = load(args.file)  # an unreadable project: runtime.cli.run says why (exit 2)
    try:
        predictor = Predictor(project, args.weights)
    except SetupError as e:  # a project that does not compile or fit its recipe
        return _fail(str(e), EXIT_INPUT if e.kind == "dataset" else EXIT_PROBLEMS)
    except (PredictError, SampleError, RecipeError, CheckpointError, PreprocessError) as e:
        return _fail(str(e))
    samples, bad = [], []
    for source in args.inputs:
        try:
            samples += predictor.read_input(source)
        except InputError as e:
            bad.append(str(e))
    if bad:  # every bad input named, nothing predicted
        return _fail("\nlayerloom: ".join(bad) + f"\n(the network's {predictor.describe_input()})")
    results = predictor.predict(samples, args.top)
    if args.json:
        print(json.dumps([p.to_json() for p in results], indent=2, ensure_ascii=False))
    else:
        for p in results:
            print(f"{p.input} → {p.summary()}")
    said = weights_warning(args.weights)
    if said:
        print(f"layerloom: {said}", file=sys.stderr)
    return EXIT_OK
