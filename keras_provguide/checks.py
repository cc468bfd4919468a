"""Argument checks shared by the public classes: one message format everywhere."""

import numpy as np


def int_at_least(value, low, name):
    """`value` as an int >= `low` (NumPy ints too, bools not), or a `ValueError` naming `name`."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)) or value < low:
        raise ValueError(f"Expected `{name}` to be an int >= {low}, received {value!r}.")
    return int(value)


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


def share(value, name, open_low=False):
    """`value` as a float in [0, 1] (in (0, 1] with `open_low`), or a `ValueError` naming `name`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not (0.0 < number <= 1.0 if open_low else 0.0 <= number <= 1.0):
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"Expected `{name}` as a float in {interval}, received {value!r}.")
    return number
