"""The command line, and the only module that uses argparse: ``python -m inception_lib <command> --help``.

Commands: ``summary`` (the design document's torchinfo table), ``rf`` (receptive fields per
module) and ``train`` (one process, or many under ``torchrun``). A user error, from a mistyped
option to a corrupt checkpoint, prints one line ``error: ...`` that says what was wrong and what is
allowed, and exits with status 2; nothing the user made is touched.

Layer rule: imports ``model``, ``analysis``, ``training`` and ``inference``; never ``draw``,
``explorers``, matplotlib or ipywidgets, so every command stays headless.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import NoReturn

from .analysis.rf import ReceptiveFields, analytic_receptive_fields
from .analysis.summary import summarize
from .model import InceptionV2
from .training.checkpoint import CheckpointError
from .training.config import PRESETS, TrainConfig, config_field_defaults
from .training.loop import summary_line, train

USAGE_ERROR = 2


class UsageError(ValueError):
    """A value the command line cannot accept (reported as ``error: ...``, exit status 2)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option prints one ``error: ...`` line (with the command), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"error: {self.prog.removeprefix('python -m ')}: {message}\n")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, got {text}")
    return value


def _input_size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input-size", type=_positive_int, default=299, help="square input side (default: 299)")


# --- summary ---


def _summary(args: argparse.Namespace) -> int:
    model = InceptionV2(num_classes=args.num_classes, aux_logits=not args.no_aux, device="meta")
    minimum = model.min_input_size_aux if model.features.aux is not None else model.min_input_size
    if args.input_size < minimum:
        hint = f" (use --no-aux for inputs down to {model.min_input_size})" if not args.no_aux else ""
        raise UsageError(f"--input-size {args.input_size} is too small; this network needs at least {minimum}{hint}")
    model = InceptionV2(num_classes=args.num_classes, aux_logits=not args.no_aux)
    print(summarize(model, (args.batch_size, 3, args.input_size, args.input_size), depth=args.depth))
    return 0


def _add_summary(commands: argparse._SubParsersAction) -> None:
    summary = commands.add_parser(
        "summary",
        help="print the torchinfo summary of the whole network",
        description="Print the torchinfo summary of Inception V2 in the design document's format "
        "(kernel, input and output shapes, parameters; totals and mult-adds at the end).",
    )
    summary.add_argument(
        "--num-classes",
        type=_positive_int,
        default=3,
        help="classifier outputs (default: 3, as in the design document)",
    )
    _input_size(summary)
    summary.add_argument("--depth", type=_positive_int, default=3, help="nesting depth of rows to show (default: 3)")
    summary.add_argument("--batch-size", type=_positive_int, default=1, help="batch size of the input (default: 1)")
    summary.add_argument(
        "--no-aux", action="store_true", help="build without the auxiliary head (allows smaller inputs)"
    )
    summary.set_defaults(run=_summary)


# --- rf ---


def format_fields(fields_: ReceptiveFields, names: Sequence[str]) -> str:
    """One line per name: grid, size, jump and effective padding, each as height×width."""

    def both(values: tuple[int, int]) -> str:
        return f"{values[0]}×{values[1]}"

    lines = [f"{'module':44} {'grid':>9} {'size':>11} {'jump':>7} {'padding':>9}"]
    for name in names:
        f = fields_[name]
        flag = "" if f.aligned else "  (misaligned)"
        lines.append(f"{name:44} {both(f.grid):>9} {both(f.size):>11} {both(f.jump):>7} {both(f.padding):>9}{flag}")
    return "\n".join(lines)


def _rf(args: argparse.Namespace) -> int:
    model = InceptionV2(num_classes=3, aux_logits=False)
    if args.input_size < model.min_input_size:
        raise UsageError(f"--input-size must be at least {model.min_input_size}, got {args.input_size}")
    found = analytic_receptive_fields(model, args.input_size)
    print(format_fields(found, list(found) if args.all else found.trunk()))
    return 0


def _add_rf(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "rf",
        help="print the receptive field of every trunk module (or every module output)",
        description="Receptive field size, jump (effective stride) and effective padding, per axis, of "
        "Inception V2's module outputs, computed from the traced graph (Araujo et al., Distill 2019).",
    )
    _input_size(parser)
    parser.add_argument("--all", action="store_true", help="every module output, not only the trunk")
    parser.set_defaults(run=_rf)


# --- train ---


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def _train(args: argparse.Namespace) -> int:
    """Build the config from ``--preset`` plus the options given, train, print the last epoch."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if getattr(args, f.name) is not None}
    config = TrainConfig.preset(args.preset, **given)
    result = train(config, resume=args.resume)
    if result.checkpoint is not None:
        print(summary_line(result.history[-1]))
        print(f"checkpoint: {result.checkpoint}")
    return 0


def _add_train(commands: argparse._SubParsersAction) -> None:
    """``train``: one option per ``TrainConfig`` field, defaults taken from ``--preset``."""
    rows = "\n".join(
        f"  {name:<11} {', '.join(f'{k}={v}' for k, v in values.items()) or 'the defaults'}"
        for name, values in PRESETS.items()
    )
    parser = commands.add_parser(
        "train",
        help="train Inception V2 (built-in shapes or your own image folders); works under torchrun",
        description="Train Inception V2. Options left out take the preset's value (see below). "
        "Under `torchrun --nproc_per_node N -m inception_lib train ...` the processes train one "
        "model together (DDP); rank 0 writes OUT_DIR/checkpoint.pt, OUT_DIR/metrics.jsonl and "
        "OUT_DIR/weights.pt (the weight average, for inception_lib.assets.weights.load_weights).",
        epilog=f"presets (changes from the option defaults shown above):\n{rows}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=tuple(PRESETS), default="paper", help="starting point (default: paper)")
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="CHECKPOINT",
        help="continue a run from OUT_DIR/checkpoint.pt, or from the file given",
    )
    defaults = config_field_defaults()
    for f in fields(TrainConfig):
        help_text = f"{f.metadata['help']} (default: {defaults[f.name]})"
        if isinstance(defaults[f.name], bool):
            parser.add_argument(_option(f.name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            kind = type(defaults[f.name]) if defaults[f.name] is not None else str
            parser.add_argument(
                _option(f.name), type=kind, default=None, choices=f.metadata.get("choices"), help=help_text
            )
    parser.set_defaults(run=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m inception_lib", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_summary(commands)
    _add_train(commands)
    _add_rf(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a user error becomes one ``error: ...`` line on stderr and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, NotADirectoryError, CheckpointError) as err:
        # The library's errors say what was wrong and what is allowed; the traceback adds nothing.
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return USAGE_ERROR
