"""Command line: ``python -m inception_lib <command> --help``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .model import InceptionV2
from .receptive_field import add_parser as add_rf_parser
from .summary import summarize
from .train import add_parser as add_train_parser


def _summary(args: argparse.Namespace) -> int:
    model = InceptionV2(num_classes=args.num_classes, aux_logits=not args.no_aux)
    minimum = model.min_input_size_aux if model.features.aux is not None else model.min_input_size
    if args.input_size < minimum:
        print(
            f"error: --input-size {args.input_size} is too small; this network needs at least {minimum}"
            + (f" (use --no-aux for inputs down to {model.min_input_size})" if not args.no_aux else ""),
            file=sys.stderr,
        )
        return 2
    print(summarize(model, (args.batch_size, 3, args.input_size, args.input_size), depth=args.depth))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inception_lib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    summary = commands.add_parser(
        "summary",
        help="print the torchinfo summary of the whole network",
        description="Print the torchinfo summary of Inception V2 in the design document's format "
        "(kernel, input and output shapes, parameters; totals and mult-adds at the end).",
    )
    summary.add_argument(
        "--num-classes", type=int, default=3, help="classifier outputs (default: 3, as in the design document)"
    )
    summary.add_argument("--input-size", type=int, default=299, help="square input side in pixels (default: 299)")
    summary.add_argument("--depth", type=int, default=3, help="nesting depth of rows to show (default: 3)")
    summary.add_argument("--batch-size", type=int, default=1, help="batch size of the traced input (default: 1)")
    summary.add_argument(
        "--no-aux", action="store_true", help="build without the auxiliary head (allows smaller inputs)"
    )
    summary.set_defaults(run=_summary)
    add_train_parser(commands)
    add_rf_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
