"""Teams bring their own models: a Keras master is re-exported, a .tflite minion is used as-is."""

import pytest

from mmnet.format.errors import ModelError
from mmnet.format.preprocessing import PreprocessingSpec
from mmnet.pipeline.datasets.config import DatasetConfig
from mmnet.pipeline.datasets.loaders import load_dataset
from mmnet.pipeline.datasets.split import split_dataset
from mmnet.pipeline.export import ExportedArtifact
from mmnet.pipeline.imports import ImportTask, import_model
from mmnet.pipeline.train import TrainedModel
from tests.support.tflite_fixtures import write_tflite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits_splits():
    dataset = load_dataset(DatasetConfig(source="builtin:digits"))
    return split_dataset(dataset, val_fraction=0.2, test_fraction=0.2, seed=0)


SPEC = PreprocessingSpec(frame_shape=(8, 8, 1), mean=(127.5,), std=(127.5,))


def test_keras_master_is_measured_and_ready_for_export(tmp_path, digits_splits):
    from mmnet.pipeline._tf import keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(keras.layers.Rescaling(1.0)(inputs))
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    path = tmp_path / "master.keras"
    keras.Model(inputs, outputs).save(path)

    result = import_model(ImportTask(str(path), "team-master", "master"), splits=digits_splits, preprocessing=SPEC,
                          out_dir=tmp_path / "out")
    assert result["kind"] == "keras"
    trained = TrainedModel.from_json(result["record"])
    assert trained.source == "imported" and trained.resolution == 8 and trained.role == "master"
    assert trained.macs == 3 * 3 * 1 * 8 * 8 * 8 + 8 * 10  # conv (eq. 5.1) + dense
    assert 0.0 <= trained.keras_val_accuracy <= 1.0


def test_tflite_minion_is_used_as_is(tmp_path, digits_splits):
    from mmnet.pipeline._tf import keras, tf

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    function = tf.function(lambda x: model(x)).get_concrete_function(tf.TensorSpec([1, 8, 8, 1], tf.float32))
    path = tmp_path / "minion.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([function]).convert())

    result = import_model(ImportTask(str(path), "team-minion", "minion"), splits=digits_splits, preprocessing=SPEC,
                          out_dir=tmp_path / "out")
    assert result["kind"] == "tflite"
    artifact = ExportedArtifact.from_json(result["record"])
    assert artifact.artifact_id == "team-minion-float32" and artifact.trained.keras_val_accuracy is None
    assert artifact.trained.macs == 64 * 10


def test_wrong_signature_is_rejected_with_the_reason(tmp_path, digits_splits):
    path = write_tflite(tmp_path / "three.tflite", "float32")  # 12x12 input, 3 classes
    with pytest.raises(ModelError, match="3 classes, the dataset has 10"):
        import_model(ImportTask(str(path), "x", "minion"), splits=digits_splits, preprocessing=SPEC, out_dir=tmp_path / "out")
