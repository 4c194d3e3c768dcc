"""Writes the Java core's shared constants from their one definition, :mod:`mmnet.format.vocabulary`.

``python -m android_harness.parity.java_vocabulary`` (re)writes, under ``android_harness/core``:

- ``src/main/java/org/mmnet/core/Vocabulary.java``: the schema versions, ``NEVER``, ``MASTER_ONLY``,
  ``MODES``, ``PATHS``, ``PLACEMENTS``;
- ``src/main/java/org/mmnet/core/select/ReasonCode.java``: the selector's reason codes with their
  sentence templates;
- ``src/test/resources/vocabulary/reason_texts.json``: every reason code rendered by Python from sample
  values (:data:`SAMPLE_VALUES`); the Java core's ``ReasonTest`` requires its renderer to write the same.

``--check`` writes nothing and exits 1 naming the files that differ from what it would write;
``tests/unit/test_vocabulary.py`` runs the same comparison, so a value edited on one side only fails it.
"""

from __future__ import annotations

import argparse
import json
import string
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mmnet.format import vocabulary as shared

__all__ = ["CORE", "SAMPLE_VALUES", "template_fields", "generated_files", "stale_files", "write_files", "main"]

CORE = Path(__file__).resolve().parents[1] / "core"
_SOURCES = Path("src/main/java")
_HEADER = ("// Generated from mmnet/format/vocabulary.py by `python -m android_harness.parity.java_vocabulary`;\n"
           "// edit that file and run the generator, not this one.\n")

# The constants of Vocabulary.java: (name in mmnet.format.vocabulary, javadoc).
_CONSTANTS = (
    ("MANIFEST_SCHEMA_VERSION", "The schema_version of manifest.json."),
    ("RUNTIME_CONFIG_SCHEMA_VERSION", "The schema_version of runtime_config.json."),
    ("DEVICE_PROFILE_SCHEMA_VERSION", "The schema_version of device_profile.json."),
    ("NEVER", "A detector threshold no probability reaches: the class is always recovered."),
    ("MASTER_ONLY", "The system name of the master alone, where a config names a minion system."),
    ("MODES", "The user modes, the json names of {@link Mode}, in its order."),
    ("PATHS", "The paths a frame takes, the json names of {@link org.mmnet.core.select.FramePath}, in its order."),
    ("PLACEMENTS", "Where the master runs, the json names of {@link Placement}, in its order."),
)


# Values for every template field, chosen at the formats' edges: halves that round to even (62.5 -> "62",
# 63.5 -> "64", 0.125 -> "0.12"), binary values just off a half (24.085, 5.545), tiny and integral numbers.
SAMPLE_VALUES = (
    {"mode": "normal", "placement": "cloud", "profile": "lte", "system": "pair:a+b", "configured": "single:c",
     "L_t": 24.085, "L_m": 0.125, "L_t_nominal": 30.3, "rtt_ms": 84.75,
     "expected_ms": 5.545, "master_ms": 5.08, "configured_ms": 28.0, "dt_ms": 62.5, "temporal_distance_ms": 125.0,
     "master_answer": 2, "minion_answer": 0, "probe_interval_s": 5.0},
    {"mode": "mission_critical", "placement": "device", "profile": "3g", "system": "single:x", "configured": "master-only",
     "L_t": 1e-05, "L_m": 80.005, "L_t_nominal": 107.125, "rtt_ms": 0.05,
     "expected_ms": 1234.565, "master_ms": 0.0, "configured_ms": 99.995, "dt_ms": 63.5, "temporal_distance_ms": 33.3333,
     "master_answer": 9, "minion_answer": 10, "probe_interval_s": 0.25},
)


def template_fields(template: str) -> list[tuple[str, str]]:
    """The (name, format spec) of each field of a reason template, in order."""
    return [(name, spec) for _, name, spec, _ in string.Formatter().parse(template) if name is not None]


def _reason_texts(vocabulary: ModuleType) -> str:
    samples = []
    for values in SAMPLE_VALUES:
        for code in vocabulary.ReasonCode:
            fields = {name: values[name] for name, _ in template_fields(code.template)}
            samples.append({"code": code.value, "values": fields, "text": code.render(fields)})
    rows = ",\n".join(f"  {json.dumps(sample, ensure_ascii=False)}" for sample in samples)
    return f'{{"generated_by": "python -m android_harness.parity.java_vocabulary", "reasons": [\n{rows}\n]}}\n'


def _java_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are Java's
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same double, in both languages
    raise TypeError(f"no Java literal for {value!r}")


def _constant(name: str, doc: str, value: Any) -> str:
    if isinstance(value, tuple):
        items = ", ".join(_java_literal(v) for v in value)
        declaration = (f"public static final List<String> {name} = Collections.unmodifiableList(Arrays.asList(\n"
                       f"            {items}));")
    else:
        java_type = "String" if isinstance(value, str) else "double"
        declaration = f"public static final {java_type} {name} = {_java_literal(value)};"
    return f"    /** {doc} */\n    {declaration}\n"


def _vocabulary_java(vocabulary: ModuleType) -> str:
    constants = "\n".join(_constant(name, doc, getattr(vocabulary, name)) for name, doc in _CONSTANTS)
    return f"""{_HEADER}package org.mmnet.core;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/** The names and numbers the Python code and the Java core share (Python mmnet.format.vocabulary). */
public final class Vocabulary {{
    private Vocabulary() {{
    }}

{constants}}}
"""


def _reason_code_java(vocabulary: ModuleType) -> str:
    members = ",\n".join(
        f"    /** {code.meaning} */\n    {code.name}({_java_literal(code.value)},\n            {_java_literal(code.template)})"
        for code in vocabulary.ReasonCode
    )
    return f"""{_HEADER}package org.mmnet.core.select;

/**
 * Why a {{@link Decision}} went as it did: one code per rule, in the order the rules apply (Python
 * mmnet.format.vocabulary.ReasonCode). {{@link #json()}} is the name in traces; {{@link #template()}} is
 * the sentence a {{@link Reason}} renders from its values ({{name}} or {{name:spec}} fields, spec one of
 * .0f, .1f, .2f, g).
 */
public enum ReasonCode {{
{members};

    private final String json;
    private final String template;

    ReasonCode(String json, String template) {{
        this.json = json;
        this.template = template;
    }}

    public String json() {{
        return json;
    }}

    public String template() {{
        return template;
    }}

    public static ReasonCode parse(String name) {{
        for (ReasonCode c : values()) {{
            if (c.json.equals(name)) {{
                return c;
            }}
        }}
        throw new IllegalArgumentException("reason code is '" + name + "'; expected one of the ReasonCode names");
    }}

    @Override
    public String toString() {{
        return json;
    }}
}}
"""


def generated_files(vocabulary: ModuleType = shared) -> dict[Path, str]:
    """Path under the core's directory -> the text the generator writes there."""
    return {
        _SOURCES / "org/mmnet/core/Vocabulary.java": _vocabulary_java(vocabulary),
        _SOURCES / "org/mmnet/core/select/ReasonCode.java": _reason_code_java(vocabulary),
        Path("src/test/resources/vocabulary/reason_texts.json"): _reason_texts(vocabulary),
    }


def stale_files(core: Path = CORE, vocabulary: ModuleType = shared) -> list[Path]:
    """The generated files that are missing under ``core`` or differ from what the generator writes."""
    stale = []
    for relative, text in generated_files(vocabulary).items():
        path = core / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def write_files(core: Path = CORE) -> list[Path]:
    """Writes every generated file; the paths written."""
    written = []
    for relative, text in generated_files().items():
        path = core / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m android_harness.parity.java_vocabulary",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    parser.add_argument("--core", type=Path, default=CORE, help="the Java core's directory (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(args.core)
        for path in stale:
            print(f"stale: {path} differs from what mmnet/format/vocabulary.py gives; run "
                  "python -m android_harness.parity.java_vocabulary", file=sys.stderr)
        return 1 if stale else 0
    for path in write_files(args.core):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
