"""mmnet mobile runtime: load a bundle and run it — minions, detector, master on device or cloud —
without TensorFlow (``pip install 'mmnet[runtime]'``; the master server needs ``mmnet[serve]``)."""

from __future__ import annotations

from mmnet.format.bundle import (
    MANIFEST_FILE,
    MANIFEST_SCHEMA_VERSION,
    SPLITS,
    Bundle,
    ModelRecord,
    load_bundle,
    publish_bundle,
    sha256_file,
    write_manifest,
)
from mmnet.format.describe import format_bundle_summary, format_runtime_config
from mmnet.format.device_profile import (
    DEVICE_PROFILE_SCHEMA_VERSION,
    DeviceProfile,
    host_device_profile,
    load_device_profile,
    match_profile_to_bundle,
    write_device_profile,
)
from mmnet.format.documents import load_schema, validate_document
from mmnet.format.errors import (
    BundleError,
    ConfigError,
    DataError,
    DependencyError,
    MmnetError,
    ModelError,
)
from mmnet.format.runtime_config import (
    MASTER_ONLY,
    MODES,
    RUNTIME_CONFIG_FILE,
    RUNTIME_CONFIG_SCHEMA_VERSION,
    RuntimeConfig,
    check_runtime_config,
    load_runtime_config,
    write_runtime_config,
)
from mmnet.runtime.detector import (
    NEVER,
    DetectorOutput,
    FrameVerdict,
    apply_temperature,
    calibrated_top1,
    calibration_table,
    combine_minions,
    detect,
    detect_frame,
)
from mmnet.runtime.interpreter import (
    LatencyStats,
    TFLiteClassifier,
    check_model_file,
    interpreter_backend,
    load_interpreter,
    measure_latency,
)
from mmnet.runtime.network import (
    DEFAULT_PROFILES,
    NetworkProfile,
    RadioPowerModel,
    load_network_profiles,
    reply_bytes,
    transfer_energy_mj,
    transfer_latency_ms,
    upload_bytes,
)
from mmnet.runtime.preprocessing import (
    RESIZE_METHODS,
    PreprocessingSpec,
    preprocess,
    resize_frames,
    validate_frames,
)
from mmnet.runtime.remote import RemoteMaster, RemoteMasterError, RemoteResult
from mmnet.runtime.replay import format_summary, replay
from mmnet.runtime.runtime import FALLBACK_CODES, FrameLostError, FrameResult, Runtime
from mmnet.runtime.selector import (
    Decision,
    HistoryEntry,
    LinkEstimate,
    SelectorState,
    SelectorTables,
    after_frame,
    decide,
    initial_state,
    observe_bandwidth,
    observe_rtt,
)

__all__ = [
    # bundle
    "MANIFEST_FILE",
    "MANIFEST_SCHEMA_VERSION",
    "SPLITS",
    "Bundle",
    "ModelRecord",
    "load_bundle",
    "publish_bundle",
    "sha256_file",
    "write_manifest",
    # detector
    "NEVER",
    "DetectorOutput",
    "FrameVerdict",
    "apply_temperature",
    "detect",
    "detect_frame",
    "calibrated_top1",
    "calibration_table",
    "combine_minions",
    # device profile
    "DEVICE_PROFILE_SCHEMA_VERSION",
    "DeviceProfile",
    "host_device_profile",
    "load_device_profile",
    "match_profile_to_bundle",
    "write_device_profile",
    # errors
    "MmnetError",
    "ConfigError",
    "DataError",
    "BundleError",
    "ModelError",
    "DependencyError",
    # inspect
    "format_bundle_summary",
    "format_runtime_config",
    # interpreter
    "LatencyStats",
    "TFLiteClassifier",
    "check_model_file",
    "interpreter_backend",
    "load_interpreter",
    "measure_latency",
    # network
    "DEFAULT_PROFILES",
    "NetworkProfile",
    "RadioPowerModel",
    "load_network_profiles",
    "reply_bytes",
    "transfer_energy_mj",
    "transfer_latency_ms",
    "upload_bytes",
    # preprocessing
    "RESIZE_METHODS",
    "PreprocessingSpec",
    "preprocess",
    "resize_frames",
    "validate_frames",
    # runtime (the master server needs the serve extra: import mmnet.server.launch)
    "FALLBACK_CODES",
    "FrameLostError",
    "FrameResult",
    "Runtime",
    "RemoteMaster",
    "RemoteMasterError",
    "RemoteResult",
    "format_summary",
    "replay",
    # runtime config
    "MASTER_ONLY",
    "MODES",
    "RUNTIME_CONFIG_FILE",
    "RUNTIME_CONFIG_SCHEMA_VERSION",
    "RuntimeConfig",
    "check_runtime_config",
    "load_runtime_config",
    "write_runtime_config",
    # selector
    "Decision",
    "HistoryEntry",
    "LinkEstimate",
    "SelectorState",
    "SelectorTables",
    "after_frame",
    "decide",
    "initial_state",
    "observe_bandwidth",
    "observe_rtt",
    # schemas
    "load_schema",
    "validate_document",
]
