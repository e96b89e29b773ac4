"""Argument types shared by the command-line tools."""

from __future__ import annotations

import argparse


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds > 0, with an error naming the bad value."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value
