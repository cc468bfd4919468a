import json
import os

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()
ALLOWED_SKIPS = os.path.join(os.path.dirname(__file__), "allowed_skips.json")
_skipped = []


def pytest_report_header(config):
    return f"KERAS_BACKEND={BACKEND}, keras {keras.__version__}"


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.config.set_image_data_format("channels_last")


def linear_backbone(input_shape, weights, bias=None):
    """Flatten + Dense with the given `(D, K)` kernel: d logit_k / d x = weights[:, k]."""
    num_classes = weights.shape[1]
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(num_classes),
        ]
    )
    bias = np.zeros(num_classes, "float32") if bias is None else bias
    model.layers[-1].set_weights([weights.astype("float32"), bias.astype("float32")])
    return model


def conv_backbone(input_shape=(8, 8, 3), num_classes=4, data_format=None):
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Conv2D(4, 3, padding="same", data_format=data_format),
            keras.layers.BatchNormalization(axis=1 if data_format == "channels_first" else -1),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(data_format=data_format),
            keras.layers.Dense(num_classes),
        ]
    )


def sparse_ce():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def requires_backend(*names):
    return pytest.mark.skipif(
        BACKEND not in names, reason=f"needs KERAS_BACKEND in {names}"
    )



def allowed_skips(backend):
    """The test ids `allowed_skips.json` lets skip on `backend`."""
    with open(ALLOWED_SKIPS) as file:
        return [entry["test"] for entry in json.load(file).get(backend, [])]


def unexpected_skips(skipped, allowed):
    """The ids in `skipped` that no allowed id names (an id without `[...]` covers every parameter)."""
    return [test for test in skipped if test not in allowed and test.split("[")[0] not in allowed]


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    # Under KPG_STRICT_SKIPS=1 (CI's test script) a skip must be on the
    # backend's allowlist: a missing dependency or a broken marker fails CI
    # instead of silently running fewer tests. With xdist the controller
    # sees every worker's reports; the workers do not check.
    if os.environ.get("KPG_STRICT_SKIPS") != "1" or hasattr(session.config, "workerinput"):
        return
    unexpected = unexpected_skips(_skipped, allowed_skips(BACKEND))
    if unexpected:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = [f"!! {len(unexpected)} skip(s) not on tests/allowed_skips.json for {BACKEND}:"]
        lines += [f"   {test}" for test in unexpected]
        if reporter is not None:
            reporter.ensure_newline()
            reporter.write_line("\n".join(lines), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
