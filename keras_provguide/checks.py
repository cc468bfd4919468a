"""Argument checks shared by the public classes: one message format everywhere."""

import numpy as np


def non_negative_float(value, name):
    """`value` as a finite float >= 0, or a `ValueError` naming `name`."""
    return _float_at_least(value, name, ">= 0", lambda v: v >= 0)


def positive_float(value, name):
    """`value` as a finite float > 0, or a `ValueError` naming `name`."""
    return _float_at_least(value, name, "> 0", lambda v: v > 0)


def _float_at_least(value, name, bound, accept):
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or not accept(number):
        raise ValueError(f"Expected `{name}` to be a float {bound}, received {value!r}.")
    return number
