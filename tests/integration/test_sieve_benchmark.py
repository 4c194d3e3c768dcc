"""``python -m mmnet.benchmarks.sieve_search`` in a child process: a small given model searched on the
digits config's split end to end (artifact, tables, plots, LiteRT test accuracies), and bad input
as one line naming the log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mmnet.pipeline._tf import keras
from mmnet.pipeline.sieve.search import validate_search_document

REPO = Path(__file__).resolve().parents[2]


def _benchmark(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmnet.benchmarks.sieve_search", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def _small_model(path: Path) -> Path:
    """A small CNN at the digits' 8x8, trained briefly on normalised random-free inputs of the builtin set."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = ((digits.images[..., np.newaxis] - digits.images.mean()) / digits.images.std()).astype(np.float32)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(h))
    model.compile(keras.optimizers.legacy.Adam(0.02), "sparse_categorical_crossentropy")
    model.fit(x, digits.target, epochs=8, batch_size=64, verbose=0)
    model.save(str(path))
    return path


def test_search_benchmark_on_a_given_model(tmp_path):
    model = _small_model(tmp_path / "small.keras")
    out = tmp_path / "out"
    done = _benchmark("configs/digits.yaml", "--model", str(model), "--max-mantissa-bits", "3", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((out / "sieve_search.json").read_text(encoding="utf-8"))
    validate_search_document(doc)
    assert doc["config"]["max_mantissa_bits"] == 3 and doc["splits"]["test"] > 0
    assert set(doc["test_accuracy_litert"]) == {"float32", "exact", "accurate", "approximate"}
    assert doc["models"]["accurate"]["normalized"] >= 1.0
    assert "| accurate |" in done.stdout and "paper (§4.4.1)" in done.stdout
    for name in ("formats.md", "sieve_search.md", "formats.png", "pareto.png", "sieve_search.log"):
        assert (out / name).stat().st_size > 0


def test_bad_input_is_one_line_naming_the_log(tmp_path):
    done = _benchmark(str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "missing.yaml" in done.stderr and f"details: {tmp_path / 'out' / 'sieve_search.log'}" in done.stderr
