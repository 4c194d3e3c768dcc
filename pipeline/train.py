"""Training stage: one variant of the zoo trained on the split artifact.

Frames are resized with the runtime's own :func:`mmnet.runtime.preprocessing.resize_frames`, so the
network sees exactly what the phone will feed it; augmentation runs in the input pipeline (in pixel
units, before normalisation) and never becomes part of the exported model.

Artifact on disk (the directory it is given: the build's ``stages/train/<key>/`` cache entry):
``model.keras`` (tf_keras) and ``trained.json`` (the :class:`TrainedModel` record); with ``keep_initial``,
``initial.keras`` (the weights before training, which double-shot pruning scores against). The
compression stage writes the pruned model and its record into its own entry (``pruned.keras``,
``trained.json``).
"""

from __future__ import annotations

import functools
import json
import logging
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.config import AugmentationConfig, DistillationConfig, TrainingConfig
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.zoo.costs import keras_model_costs
from mmnet.pipeline.zoo.registry import build_model
from mmnet.pipeline.zoo.spec import VariantSpec
from mmnet.runtime.preprocessing import resize_frames

__all__ = [
    "TrainedModel",
    "model_inputs",
    "train_variant",
    "variant_seed",
    "soft_labels",
    "load_keras_model",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedModel:
    """A trained (or imported) Keras model on disk and what was measured on it."""

    variant: str
    role: str
    family: str
    alpha: float | None
    resolution: int
    keras_path: str
    params: int
    macs: int
    keras_val_accuracy: float | None  # None for an imported .tflite (no Keras model)
    keras_test_accuracy: float | None
    epochs_run: int
    duration_s: float
    distilled: bool
    source: str = "trained"
    compression: dict | None = None  # what pruning removed (manifest ``pruning``); None: not pruned
    sieve: dict | None = None  # a SIEVE model of the master (manifest ``sieve``); None: not one

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainedModel:
        return cls(**data)

    def write(self, directory: Path) -> Path:
        path = directory / "trained.json"
        path.write_text(json.dumps(self.to_json(), indent=2), encoding="utf-8")
        return path


def variant_seed(base_seed: int, variant: str) -> int:
    """A per-variant seed that does not depend on the order variants are trained in."""
    return (base_seed * 1_000_003 + zlib.crc32(variant.encode())) % (2**31 - 1)


def model_inputs(frames: np.ndarray, spec: PreprocessingSpec, resolution: int) -> np.ndarray:
    """Frames in pixel units resized to ``resolution`` (normalisation happens in the model input map)."""
    return resize_frames(frames, resolution, spec.resize_method)


def soft_labels(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Teacher targets softened at ``temperature``: softmax(log p / T)."""
    logits = np.log(np.clip(probabilities.astype(np.float64), 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def load_keras_model(path: str | Path):
    """Loads a saved model once per process: export asks for the same model once per precision."""
    from mmnet.pipeline._tf import keras
    from mmnet.pipeline.sieve import emulation  # noqa: F401 - registers the layer SIEVE models hold

    return keras.models.load_model(str(path), compile=False)


def _augmenter(config: AugmentationConfig, seed: int):
    from mmnet.pipeline._tf import keras

    layers = []
    if config.translate > 0:
        layers.append(keras.layers.RandomTranslation(config.translate, config.translate, fill_mode="constant", seed=seed))
    if config.rotate_degrees > 0:
        layers.append(keras.layers.RandomRotation(config.rotate_degrees / 360.0, fill_mode="constant", seed=seed + 1))
    if config.zoom > 0:
        layers.append(keras.layers.RandomZoom(config.zoom, fill_mode="constant", seed=seed + 2))
    if config.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed + 3))
    return keras.Sequential(layers, name="augmentation") if layers else None


def _distillation_loss(num_classes: int, config: DistillationConfig):
    """Targets are [one-hot | teacher soft labels]; the model outputs probabilities."""
    from mmnet.pipeline._tf import tf

    temperature = float(config.temperature)
    weight = float(config.weight)

    def loss(y_true, y_pred):
        hard, soft = y_true[:, :num_classes], y_true[:, num_classes:]
        log_p = tf.math.log(tf.clip_by_value(y_pred, 1e-7, 1.0))
        hard_loss = -tf.reduce_sum(hard * log_p, axis=1)
        student_soft = tf.nn.log_softmax(log_p / temperature, axis=1)
        soft_loss = -tf.reduce_sum(soft * student_soft, axis=1) * temperature**2
        return weight * soft_loss + (1.0 - weight) * hard_loss

    return loss


def _hard_accuracy(num_classes: int):
    from mmnet.pipeline._tf import tf

    def accuracy(y_true, y_pred):
        hard = y_true[:, :num_classes]
        return tf.cast(tf.equal(tf.argmax(hard, axis=1), tf.argmax(y_pred, axis=1)), tf.float32)

    return accuracy


def train_variant(
    spec: VariantSpec,
    *,
    role: str,
    splits: Splits,
    preprocessing: PreprocessingSpec,
    config: TrainingConfig,
    out_dir: Path,
    teacher: dict[str, np.ndarray] | None = None,
    keep_initial: bool = False,
) -> TrainedModel:
    """Trains ``spec`` from scratch and writes the artifact into ``out_dir``.

    ``teacher`` (optional) holds the master's probabilities for the ``train`` and ``val`` frames;
    when given, the minion is distilled with ``config.distillation``. ``keep_initial`` also saves the
    untrained network (``initial.keras``) for the compression stage.
    """
    from mmnet.pipeline._tf import keras, tf

    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    seed = variant_seed(config.seed, spec.name)
    keras.utils.set_random_seed(seed)
    num_classes = splits.train.num_classes
    channels = splits.train.frame_shape[2]

    x = {name: model_inputs(getattr(splits, name).frames, preprocessing, spec.resolution) for name in ("train", "val", "test")}
    y = {name: getattr(splits, name).labels for name in ("train", "val", "test")}
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)

    model = build_model(spec, channels=channels, num_classes=num_classes)
    if keep_initial:
        model.save(str(out_dir / "initial.keras"))
    distilled = teacher is not None
    if distilled:
        targets = {
            name: np.concatenate(
                [np.eye(num_classes, dtype=np.float32)[y[name]], soft_labels(teacher[name], config.distillation.temperature)],
                axis=1
            )
            for name in ("train", "val")
        }
        loss = _distillation_loss(num_classes, config.distillation)
        metric = _hard_accuracy(num_classes)
    else:
        targets = {name: np.eye(num_classes, dtype=np.float32)[y[name]] for name in ("train", "val")}
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        metric = _hard_accuracy(num_classes)

    augment = _augmenter(config.augmentation, seed)

    def normalise(images, labels):
        return (images - mean) / std, labels

    def augmented(images, labels):
        return augment(images, training=True), labels

    train_ds = tf.data.Dataset.from_tensor_slices((x["train"], targets["train"]))
    # drop_remainder: a partial last batch would make Keras trace the train step a second time,
    # which costs more than the epoch itself on small models; reshuffling uses every frame over time.
    train_ds = train_ds.shuffle(len(x["train"]), seed=seed, reshuffle_each_iteration=True).batch(
        config.batch_size, drop_remainder=True)
    if augment is not None:
        train_ds = train_ds.map(augmented, num_parallel_calls=1)
    train_ds = train_ds.map(normalise).prefetch(2)
    val_ds = tf.data.Dataset.from_tensor_slices((x["val"], targets["val"])).batch(len(x["val"])).map(normalise)

    epochs = config.master_epochs if role == "master" else config.epochs
    steps = epochs * max(1, len(x["train"]) // config.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, decay_steps=steps, alpha=0.01)
    # The legacy optimizer applies each update with one fused kernel; the Keras-2 AdamW builds about
    # ten Python-level ops per variable, and tracing those took ~36 s per MobileNet here.
    optimizer = keras.optimizers.legacy.Adam(learning_rate=schedule)
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric])
    # Validation is noisy while the cosine schedule's rate is high, so stopping may only happen in the
    # second half; the best epoch's weights are restored either way.
    stop = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=config.early_stopping_patience, restore_best_weights=True,
        start_from_epoch=epochs // 2,
    )
    history = model.fit(train_ds, validation_data=val_ds, epochs=epochs, callbacks=[stop], verbose=0)

    accuracy = {}
    for name in ("val", "test"):
        probabilities = model.predict((x[name] - mean) / std, batch_size=256, verbose=0)
        accuracy[name] = float(np.mean(np.argmax(probabilities, axis=1) == y[name]))

    keras_path = out_dir / "model.keras"
    model.save(str(keras_path))
    costs = keras_model_costs(model)
    trained = TrainedModel(
        variant=spec.name,
        role=role,
        family=spec.family,
        alpha=float(spec.alpha),
        resolution=spec.resolution,
        keras_path=str(keras_path),
        params=costs.params,
        macs=costs.macs,
        keras_val_accuracy=accuracy["val"],
        keras_test_accuracy=accuracy["test"],
        epochs_run=len(history.history["loss"]),
        duration_s=round(time.monotonic() - started, 2),
        distilled=distilled,
    )
    trained.write(out_dir)
    log.info("trained %s: val %.2f%% test %.2f%% in %d epochs",
             spec.name, 100 * accuracy["val"], 100 * accuracy["test"], trained.epochs_run)
    return trained

