"""Export stage: a trained Keras model to TFLite at float32, float16 and full-integer int8.

int8 artifacts take int8 input and give int8 output (the whole graph runs in integers); their
representative data comes from the train split, preprocessed exactly as at run time. With
``export.qat_epochs > 0`` the int8 artifact is converted from a quantization-aware fine-tuned copy of
the model (tensorflow-model-optimization) instead of post-training quantization.

Artifact on disk (the build's ``stages/export/<key>/`` cache entry): ``<artifact id>.tflite`` and
``<artifact id>.json`` (the :class:`ExportedArtifact` record).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import struct
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mmnet.format.bundle import sha256_file
from mmnet.format.errors import ModelError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.config import ExportConfig, TrainingConfig
from mmnet.pipeline.datasets.dataset import Splits
from mmnet.pipeline.train import TrainedModel, load_keras_model, model_inputs, variant_seed

__all__ = [
    "ExportedArtifact",
    "QUANTIZATION_OF",
    "export_artifact",
    "convert_keras_model",
    "representative_inputs",
    "embed_metadata",
]

log = logging.getLogger(__name__)

# How each precision is produced, as recorded in the manifest.
QUANTIZATION_OF = {"float32": "none", "float16": "float16", "int8": "ptq"}


@dataclass(frozen=True)
class ExportedArtifact:
    artifact_id: str
    precision: str
    quantization: str
    path: str
    bytes: int
    sha256: str
    tflite_metadata: bool
    metadata_note: str
    trained: TrainedModel

    def to_json(self) -> dict:
        data = asdict(self)
        data["trained"] = self.trained.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict) -> ExportedArtifact:
        return cls(**{**data, "trained": TrainedModel.from_json(data["trained"])})


def representative_inputs(
    splits: Splits, preprocessing: PreprocessingSpec, resolution: int, count: int, seed: int
) -> np.ndarray:
    """Normalised model inputs drawn (seeded) from the train split for int8 calibration (from the val
    split when nothing trains and there is no train split)."""
    frames = splits.train.frames if len(splits.train) else splits.val.frames
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(frames), size=min(count, len(frames)), replace=False)
    images = model_inputs(frames[np.sort(chosen)], preprocessing, resolution)
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)
    return ((images - mean) / std).astype(np.float32)


def convert_keras_model(
    model, precision: str, representative: np.ndarray | None = None, *, int8_granularity: str = "per_tensor"
) -> bytes:
    """Converts a tf_keras model to a TFLite flatbuffer at ``precision`` with a batch-1 input.

    The model is traced as a concrete function rather than passed to ``from_keras_model``: the
    latter round-trips through a SavedModel and took 30-95 s per model here against 2-6 s, with
    identical ops and outputs. Phones classify one frame at a time, hence the fixed batch of 1.
    """
    from mmnet.pipeline._tf import tf

    signature = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    if precision == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if representative is None or len(representative) == 0:
            raise ModelError("int8 export needs representative data from the train split, got none")

        def samples():
            for x in representative:
                yield [x[np.newaxis]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        # TF 2.21 exposes the choice only as this private converter flag.
        converter._experimental_disable_per_channel = int8_granularity == "per_tensor"
    elif precision != "float32":
        raise ModelError(f"unknown precision {precision!r}; expected float32, float16 or int8")
    with _native_stderr_logged("TFLite converter"):
        return converter.convert()


@contextlib.contextmanager
def _native_stderr_logged(what: str):
    """Sends what native code writes to stderr meanwhile to the debug log (a warning if it fails).

    The converter's C++ prints a calibration line per int8 model straight to fd 2; a build converts
    hundreds (the latency model's single layers too), which buried the build's own output.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace").strip()
            if text:
                log.log(logging.WARNING if failed else logging.DEBUG, "%s wrote to stderr: %s", what, text)


def _qat_model(trained: TrainedModel, splits: Splits, preprocessing: PreprocessingSpec, training: TrainingConfig, epochs: int):
    """Fine-tunes a quantization-aware copy of the trained model for ``epochs`` epochs."""
    import tensorflow_model_optimization as tfmot

    from mmnet.pipeline._tf import keras

    keras.utils.set_random_seed(variant_seed(training.seed, trained.variant + "-qat"))
    model = load_keras_model(trained.keras_path)
    qat = tfmot.quantization.keras.quantize_model(model)
    num_classes = splits.train.num_classes
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)
    x = (model_inputs(splits.train.frames, preprocessing, trained.resolution) - mean) / std
    y = np.eye(num_classes, dtype=np.float32)[splits.train.labels]
    qat.compile(optimizer=keras.optimizers.Adam(training.learning_rate / 10), loss="categorical_crossentropy")
    qat.fit(x, y, batch_size=training.batch_size, epochs=epochs, verbose=0)
    return qat


_DOS_DATE_1980_01_01 = (1 << 5) | 1  # MS-DOS date of 1980-01-01 (time 00:00:00 is 0)


def zip_times_fixed(model: bytes) -> bytes:
    """The model with its appended zip's entry times set to 1980-01-01 00:00.

    The metadata writer zips the labels file into the model stamped with the current time, so the
    same model exported twice would differ in those bytes (and in its sha256, which content-addressed
    stage outputs and bundle comparisons rely on). The times are rewritten in place: same length,
    no offset or CRC changes.
    """
    buffer = bytearray(model)
    with zipfile.ZipFile(io.BytesIO(model)) as archive:
        entries = archive.infolist()
        position = archive.start_dir  # the central directory, offsets already include the flatbuffer before it
        for info in entries:
            struct.pack_into("<HH", buffer, info.header_offset + 10, 0, _DOS_DATE_1980_01_01)  # local header
            if bytes(buffer[position:position + 4]) != b"PK\x01\x02":
                raise ValueError("zip_times_fixed: unexpected central directory layout")
            struct.pack_into("<HH", buffer, position + 12, 0, _DOS_DATE_1980_01_01)
            name_length, extra_length, comment_length = struct.unpack_from("<HHH", buffer, position + 28)
            position += 46 + name_length + extra_length + comment_length
    return bytes(buffer)


def embed_metadata(tflite_path: Path, labels: list[str], preprocessing: PreprocessingSpec) -> tuple[bool, str]:
    """Embeds TFLite metadata (labels, normalisation) when tflite-support's writer is importable."""
    try:
        from tensorflow_lite_support.metadata.python.metadata_writers import image_classifier, writer_utils
    except ImportError as e:
        return False, f"not embedded: tflite-support metadata writer unavailable ({e.__class__.__name__}: {e})"
    labels_file = tflite_path.with_suffix(".labels.txt")
    labels_file.write_text("\n".join(labels) + "\n", encoding="utf-8")
    try:
        writer = image_classifier.MetadataWriter.create_for_inference(
            writer_utils.load_file(str(tflite_path)),
            input_norm_mean=list(preprocessing.mean),
            input_norm_std=list(preprocessing.std),
            label_file_paths=[str(labels_file)],
        )
        writer_utils.save_file(zip_times_fixed(writer.populate()), str(tflite_path))
    except Exception as e:  # the writer raises bare Exceptions for unsupported graphs
        return False, f"not embedded: metadata writer failed ({e.__class__.__name__}: {e})"
    finally:
        labels_file.unlink(missing_ok=True)
    return True, "labels and normalisation embedded with tflite-support"


def export_artifact(
    trained: TrainedModel,
    precision: str,
    *,
    splits: Splits,
    preprocessing: PreprocessingSpec,
    export: ExportConfig,
    training: TrainingConfig,
    out_dir: Path,
) -> ExportedArtifact:
    """Converts ``trained`` at ``precision`` and writes the artifact into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    artifact_id = f"{trained.variant}-{precision}"
    path = out_dir / f"{artifact_id}.tflite"
    # a SIEVE model is float32 TFLite whose values are already in their custom formats
    quantization = "sieve" if trained.sieve is not None else QUANTIZATION_OF[precision]
    representative = None
    if precision == "int8":
        seed = variant_seed(training.seed, artifact_id)
        representative = representative_inputs(splits, preprocessing, trained.resolution, export.representative_samples, seed)
    if precision == "int8" and export.qat_epochs > 0:
        model = _qat_model(trained, splits, preprocessing, training, export.qat_epochs)
        quantization = "qat"
    else:
        model = load_keras_model(trained.keras_path)
    path.write_bytes(convert_keras_model(model, precision, representative, int8_granularity=export.int8_granularity))
    if trained.sieve is not None and "native" in trained.sieve:
        # a natively executed SIEVE model: the float conversion quantised per layer as the native search measured it
        from mmnet.pipeline.sieve.native_litert import CALIBRATION_FRAMES, native_model
        from mmnet.runtime.preprocessing import preprocess

        x_val = preprocess(splits.val.frames[:CALIBRATION_FRAMES], preprocessing, trained.resolution).astype(np.float32)
        path.write_bytes(native_model(path.read_bytes(), trained.sieve["formats"], x_val))

    if export.tflite_metadata:
        embedded, note = embed_metadata(path, list(splits.train.class_names), preprocessing)
    else:
        embedded, note = False, "not embedded: export.tflite_metadata is false"
    artifact = ExportedArtifact(
        artifact_id=artifact_id,
        precision=precision,
        quantization=quantization,
        path=str(path),
        bytes=path.stat().st_size,
        sha256=sha256_file(path),
        tflite_metadata=embedded,
        metadata_note=note,
        trained=trained,
    )
    (out_dir / f"{artifact_id}.json").write_text(json.dumps(artifact.to_json(), indent=2), encoding="utf-8")
    log.info("exported %s (%d bytes, %s)", artifact_id, artifact.bytes, quantization)
    return artifact
