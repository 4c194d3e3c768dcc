"""One vocabulary for Python and the Java core: mmnet.format.vocabulary is the only definition.

The Java side's Vocabulary.java, ReasonCode.java and the sample sentences its ReasonTest checks are
written from it (android_harness/parity/java_vocabulary.py); the Java enums Mode, Placement and
FramePath and the JSON Schemas are read here and compared. Each check is shown to fail when one side
alone is edited.
"""

from __future__ import annotations

import json
import re
import shutil
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from android_harness.parity import java_vocabulary as gen
from mmnet.format import bundle, device_profile, runtime_config, vocabulary
from mmnet.format.documents import load_schema
from mmnet.format.vocabulary import MODES, NEVER, PATHS, PLACEMENTS, ReasonCode
from mmnet.runtime import detector, selector

JAVA = gen.CORE / "src/main/java/org/mmnet/core"
# The template format specs the Java renderer (org.mmnet.core.select.Reason) implements.
JAVA_SPECS = {"", ".0f", ".1f", ".2f", "g"}


def _copy(**changes: Any) -> SimpleNamespace:
    """The vocabulary module's names, some changed: a vocabulary edited on the Python side only."""
    return SimpleNamespace(**{**{name: getattr(vocabulary, name) for name in vocabulary.__all__}, **changes})


@dataclass
class _EditedCode:
    name: str
    value: str
    template: str
    meaning: str

    def render(self, values: Mapping[str, Any]) -> str:
        return self.template.format_map(values)


def _core_copy(tmp_path: Path) -> Path:
    core = tmp_path / "core"
    for relative in gen.generated_files():
        (core / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gen.CORE / relative, core / relative)
    return core


# --- the generated Java ----------------------------------------------------------------------


def test_the_committed_java_is_what_the_generator_writes() -> None:
    stale = gen.stale_files()
    assert not stale, f"{stale} differ from mmnet/format/vocabulary.py; run python -m android_harness.parity.java_vocabulary"
    assert gen.main(["--check"]) == 0


def test_a_value_edited_in_python_only_makes_the_java_stale() -> None:
    assert gen.stale_files(vocabulary=_copy(NEVER=1.02)) == [JAVA / "Vocabulary.java"]
    assert gen.stale_files(vocabulary=_copy(MODES=(*MODES, "turbo"))) == [JAVA / "Vocabulary.java"]
    edited = [_EditedCode(c.name, c.value, c.template.replace("master in the cloud", "master to the cloud"), c.meaning)
              for c in ReasonCode]
    assert [p.name for p in gen.stale_files(vocabulary=_copy(ReasonCode=edited))] == ["ReasonCode.java", "reason_texts.json"]


def test_a_value_edited_in_java_only_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    core = _core_copy(tmp_path)
    assert gen.stale_files(core) == []
    java = core / "src/main/java/org/mmnet/core/Vocabulary.java"
    java.write_text(java.read_text(encoding="utf-8").replace("NEVER = 1.01;", "NEVER = 1.02;"), encoding="utf-8")
    assert gen.stale_files(core) == [java]
    assert gen.main(["--check", "--core", str(core)]) == 1
    assert "Vocabulary.java differs from what mmnet/format/vocabulary.py gives" in capsys.readouterr().err
    assert gen.main(["--core", str(core)]) == 0 and gen.stale_files(core) == []  # regenerated


def test_the_generated_java_holds_the_values() -> None:
    java = (JAVA / "Vocabulary.java").read_text(encoding="utf-8")
    assert "public static final double NEVER = 1.01;" in java
    assert '"normal", "power_saving", "private", "mission_critical"' in java
    codes = (JAVA / "select/ReasonCode.java").read_text(encoding="utf-8")
    assert re.findall(r"^    ([A-Z_]+)\(\"([a-z_]+)\",$", codes, re.M) == [(c.name, c.value) for c in ReasonCode]


# --- the hand-written Java enums ----------------------------------------------------------------


def java_enum_names(source: str) -> list[str]:
    """The JSON names of a Java enum's constants, in order: ``NAME("json")``."""
    return re.findall(r'^    [A-Z_]+\("([a-z_-]+)"\)[,;]$', source, re.M)


@pytest.mark.parametrize(("java", "names"), [("Mode.java", MODES), ("Placement.java", PLACEMENTS),
                                             ("select/FramePath.java", PATHS)])
def test_the_java_enums_name_the_shared_values(java: str, names: tuple[str, ...]) -> None:
    source = (JAVA / java).read_text(encoding="utf-8")
    assert java_enum_names(source) == list(names)
    # An enum edited on one side only fails the comparison.
    assert java_enum_names(source.replace(f'("{names[-1]}")', '("renamed")')) != list(names)


# --- Python reads the one source ------------------------------------------------------------------


def test_python_binds_the_shared_names_from_the_vocabulary() -> None:
    assert bundle.MANIFEST_SCHEMA_VERSION is vocabulary.MANIFEST_SCHEMA_VERSION
    assert runtime_config.RUNTIME_CONFIG_SCHEMA_VERSION is vocabulary.RUNTIME_CONFIG_SCHEMA_VERSION
    assert device_profile.DEVICE_PROFILE_SCHEMA_VERSION is vocabulary.DEVICE_PROFILE_SCHEMA_VERSION
    assert detector.NEVER is vocabulary.NEVER
    assert runtime_config.MODES is vocabulary.MODES and runtime_config.MASTER_ONLY is vocabulary.MASTER_ONLY
    assert selector.PLACEMENTS is vocabulary.PLACEMENTS


def test_the_json_schemas_agree_with_the_vocabulary() -> None:
    versions = {"manifest": vocabulary.MANIFEST_SCHEMA_VERSION, "runtime_config": vocabulary.RUNTIME_CONFIG_SCHEMA_VERSION,
                "device_profile": vocabulary.DEVICE_PROFILE_SCHEMA_VERSION}
    for name, version in versions.items():
        assert load_schema(name)["properties"]["schema_version"] == {"const": version}, name
    schema = load_schema("runtime_config")
    defs = schema["$defs"]
    assert defs["threshold"]["maximum"] == NEVER
    assert defs["tuned"]["properties"]["disagreement_threshold"]["maximum"] == NEVER
    assert defs["placement"]["enum"] == list(PLACEMENTS)
    assert schema["properties"]["modes"]["required"] == list(MODES)
    assert schema["properties"]["selection"]["additionalProperties"]["required"] == list(MODES)
    assert defs["selection"]["properties"]["system"]["pattern"].startswith(f"^({vocabulary.MASTER_ONLY}|")


# --- reason codes and templates ---------------------------------------------------------------------


def test_reason_codes_are_the_json_names_the_traces_use() -> None:
    assert [c.value for c in ReasonCode] == [
        "mode", "mode_device_only", "placement_override", "override_despite_overload", "server_overloaded",
        "cloud_faster", "device_faster", "master_alone_mode", "no_minion_system", "minions_not_worth_it",
        "configured_system", "runner_up", "history_expired", "history_agreed", "history_corrected",
        "probe_server_overloaded", "probe_live_link"]
    assert ReasonCode("runner_up") is ReasonCode.RUNNER_UP and json.dumps([ReasonCode.MODE]) == '["mode"]'
    with pytest.raises(ValueError):
        ReasonCode("a rule the Java core has never heard of")


@pytest.mark.parametrize("code", list(ReasonCode))
def test_every_template_uses_only_the_formats_java_renders(code: ReasonCode) -> None:
    fields = gen.template_fields(code.template)
    assert {spec for _, spec in fields} <= JAVA_SPECS, code
    assert all(name.isidentifier() for name, _ in fields), code
    assert all(name in sample for name, _ in fields for sample in gen.SAMPLE_VALUES), code
    assert {name for _, name, _, _ in string.Formatter().parse(code.template) if name} == {n for n, _ in fields}


def test_the_sample_sentences_are_pythons() -> None:
    samples = json.loads((gen.CORE / "src/test/resources/vocabulary/reason_texts.json").read_text(encoding="utf-8"))
    assert len(samples["reasons"]) == len(gen.SAMPLE_VALUES) * len(ReasonCode)
    for sample in samples["reasons"]:
        assert ReasonCode(sample["code"]).render(sample["values"]) == sample["text"]
    # The formats' edges the Java renderer must meet: halves to even, binary values just off a half.
    texts = {s["text"] for s in samples["reasons"]}
    assert ("history rule 2: previous frame (62 ms ago) was corrected by the master (minions 0, master 2): "
            "straight to the master") in texts
    assert "placement forced to cloud by override (L_t 24.09 ms vs L_m 0.12 ms)" in texts
