"""Command-line value types shared by the project's commands: a bad value is an argparse
error (exit 2, naming the flag), never a traceback or a silently useless job."""
from __future__ import annotations

import argparse
import math

from .mesh import HOLE_RULES, SHIPPED_HOLE_RULE, hole_rule


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got '{text}'") from None


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got '{text}'")
    return value


def nonzero_float(text: str) -> float:
    """A finite number other than 0 (its sign says a side)."""
    value = _number(text)
    if not (math.isfinite(value) and value != 0):
        raise argparse.ArgumentTypeError(f"must be a finite number other than 0, got '{text}'")
    return value


def field_of_view(text: str) -> float:
    """A horizontal field of view in degrees, strictly between 0 and 180."""
    value = positive_float(text)
    if value >= 180:
        raise argparse.ArgumentTypeError(f"must be below 180 degrees, got '{text}'")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1]."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got '{text}'")
    return value


def resolution(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT, each at least 8."""
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolution must look like 512x384, got '{text}'") from None
    if w < 8 or h < 8:
        raise argparse.ArgumentTypeError("resolution must be at least 8x8")
    return w, h


def add_hole_rule_option(parser: argparse.ArgumentParser) -> None:
    """`--hole-rule NAME` (`mesh.HOLE_RULES`) of the commands that make training data; the
    shipped models' rule by default."""
    parser.add_argument("--hole-rule", type=hole_rule, default=SHIPPED_HOLE_RULE, metavar="|".join(HOLE_RULES),
                        help="which pixels are holes (docs/geometry.md, 'Which faces are holes'; default "
                             f"{SHIPPED_HOLE_RULE.name}, the shipped models' rule)")
