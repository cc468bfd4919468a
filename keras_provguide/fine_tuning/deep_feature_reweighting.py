"""Deep Feature Reweighting: a last layer refit on group-balanced held-out data."""

import keras
import numpy as np

from keras_provguide.groups import GROUPS
from keras_provguide.keys import IMAGES

C_GRID = (1.0, 0.7, 0.3, 0.1, 0.07, 0.03, 0.01)


def deep_feature_reweighting(
    model, x, y, groups=None, c=C_GRID, num_subsets=10, features=None, head=None,
    batch_size=128, seed=0,
):
    """Refits a model's final `Dense` layer by L1 logistic regression on balanced groups.

    The procedure of Kirichenko et al. (ICLR 2023): embed held-out real data
    with the frozen network up to the last layer, standardise the features,
    fit an L1-regularised logistic regression (scikit-learn, liblinear) on
    `num_subsets` random subsets that hold the same number of samples of
    every group (the smallest group's size), average the coefficients, and
    write them into the last layer. With several `c` values, each is scored
    by the worst-group accuracy of a fit on one random half of the data,
    evaluated on the other half, and the best is refit on all of it.

    Args:
        model: a `kpg.GuidedModel` or Keras model; its backbone ends with a
            `Dense` layer of `K >= 2` class logits (or 1 logit).
        x: held-out real images `(N, ...)`, or a dict holding `"images"`
            (and `"groups"`).
        y: class ids `(N,)`.
        groups: int `(N,)`; defaults to `x["groups"]`.
        c: inverse L1 strength, a float or a sequence to choose from.
        num_subsets: int >= 1, the number of balanced subsets averaged.
        features: optional callable `images -> (N, D)` features; by default
            the sub-model up to the input of the last layer (Sequential and
            functional backbones).
        head: optional, the `Dense` layer to refit; by default the last layer.
        batch_size: batch size of the feature extraction.
        seed: int, seeds the halves and subsets.

    Returns:
        A dict: `"c"` (the chosen value), `"tuning"` (`{c: worst-group
        accuracy on the tuning half}`, empty for a single `c`), and
        `"worst_group_accuracy"` of the refit layer on `x` itself (an
        optimistic, in-sample figure).

    Example:

    ```python
    report = kpg.fine_tuning.deep_feature_reweighting(
        model, val["images"], val["labels"], val["groups"])
    model.evaluate(test_inputs, test_labels)
    ```
    """
    from sklearn.linear_model import LogisticRegression

    images, groups = _images_and_groups(x, groups)
    y = np.asarray(y)
    if y.shape != (len(images),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"Expected `y` as integer class ids of shape ({len(images)},), received "
            f"dtype {y.dtype} and shape {y.shape}."
        )
    if not isinstance(num_subsets, int) or num_subsets < 1:
        raise ValueError(f"Expected `num_subsets` to be an int >= 1, received {num_subsets!r}.")
    grid = (float(c),) if np.isscalar(c) else tuple(float(v) for v in c)
    if not grid or min(grid) <= 0:
        raise ValueError(f"Expected `c` > 0 (a float or a sequence), received {c!r}.")
    head, features = _head_and_features(model, head, features, batch_size)
    embedded = np.asarray(features(images), "float64")
    mean, scale = embedded.mean(0), embedded.std(0) + 1e-8
    standardised = (embedded - mean) / scale
    rng = np.random.default_rng(seed)

    def fit(rows, c_value):
        coefs, intercepts = [], []
        for _ in range(num_subsets):
            subset = _balanced_subset(groups[rows], rng)
            regression = LogisticRegression(l1_ratio=1.0, C=c_value, solver="liblinear")
            regression.fit(standardised[rows][subset], y[rows][subset])
            coefs.append(_full_coefficients(regression, head.units))
            intercepts.append(_full_intercepts(regression, head.units))
        return np.mean(coefs, 0), np.mean(intercepts, 0)

    tuning = {}
    if len(grid) > 1:
        order = rng.permutation(len(y))
        first, second = order[: len(y) // 2], order[len(y) // 2:]
        for c_value in grid:
            coef, intercept = fit(first, c_value)
            tuning[c_value] = _worst_group_accuracy(
                standardised[second] @ coef.T + intercept, y[second], groups[second]
            )
        best = max(grid, key=lambda value: tuning[value])
    else:
        best = grid[0]
    coef, intercept = fit(np.arange(len(y)), best)
    # Undo the standardisation: logits = (f - mean) / scale @ coef.T + b.
    kernel = (coef / scale).T
    bias = intercept - (mean / scale) @ coef.T
    head.set_weights([kernel.astype("float32"), bias.astype("float32")] + head.get_weights()[2:])
    return {
        "c": best,
        "tuning": tuning,
        "worst_group_accuracy": _worst_group_accuracy(
            standardised @ coef.T + intercept, y, groups
        ),
    }


def _images_and_groups(x, groups):
    if isinstance(x, dict):
        if IMAGES not in x:
            raise ValueError(f"Expected the inputs dict to hold 'images', received {sorted(x)}.")
        if groups is None:
            groups = x.get(GROUPS)
        x = x[IMAGES]
    images = np.asarray(x)
    if groups is None:
        raise ValueError("Expected group ids as `groups` or x['groups'], received neither.")
    groups = np.asarray(groups)
    if groups.shape != (len(images),) or not np.issubdtype(groups.dtype, np.integer):
        raise ValueError(
            f"Expected `groups` as integer ids of shape ({len(images)},), received "
            f"dtype {groups.dtype} and shape {groups.shape}."
        )
    return images, groups


def _head_and_features(model, head, features, batch_size):
    backbone = getattr(model, "classifier", model)
    if head is None:
        layers = getattr(backbone, "layers", [])
        head = layers[-1] if layers else None
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(
            "Expected the model's last layer to be a Dense layer of class logits "
            f"(or `head=` naming one), received {type(head).__name__}."
        )
    if features is None:
        try:
            extractor = keras.Model(backbone.inputs, head.input)
        except Exception as error:  # A subclassed backbone has no graph to cut.
            raise ValueError(
                f"Could not cut {type(backbone).__name__} at its last layer; pass "
                "`features=` (a callable from images to (N, D) features)."
            ) from error

        def features(images):
            return extractor.predict(images, batch_size=batch_size, verbose=0)

    return head, features


def _balanced_subset(groups, rng):
    present = np.unique(groups)
    size = min(int(np.sum(groups == g)) for g in present)
    return np.concatenate(
        [rng.choice(np.flatnonzero(groups == g), size, replace=False) for g in present]
    )


def _full_coefficients(regression, units):
    """Coefficients as `(units, D)` logits; a binary fit gives class 1 its logit."""
    coef = regression.coef_
    if units == 1 or coef.shape[0] == units:
        return coef
    full = np.zeros((units, coef.shape[1]))
    if coef.shape[0] == 1:
        full[regression.classes_[1]] = coef[0]
    else:
        full[regression.classes_] = coef
    return full


def _full_intercepts(regression, units):
    intercept = regression.intercept_
    if units == 1 or intercept.shape[0] == units:
        return intercept
    full = np.zeros(units)
    if intercept.shape[0] == 1:
        full[regression.classes_[1]] = intercept[0]
    else:
        # Classes missing from the data never win the argmax.
        full[:] = -1e9
        full[regression.classes_] = intercept
    return full


def _worst_group_accuracy(logits, y, groups):
    predicted = (logits[:, 0] > 0).astype(int) if logits.shape[1] == 1 else logits.argmax(1)
    return float(min(np.mean(predicted[groups == g] == y[groups == g]) for g in np.unique(groups)))
