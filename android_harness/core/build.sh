#!/usr/bin/env bash
# Builds the Java core and runs every JUnit test class, offline, without Gradle or Maven:
#   android_harness/core/build.sh [BUILD_DIR]
# Needs javac/java (JDK 11+) and Debian's junit4, hamcrest and gson jars (`make java-deps`).
# BUILD_DIR defaults to a temporary directory that is removed afterwards.
set -euo pipefail

CORE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAVA_LIB="${JAVA_LIB:-/usr/share/java}"
JARS=("$JAVA_LIB/gson.jar" "$JAVA_LIB/junit4.jar" "$JAVA_LIB/hamcrest-core.jar")

missing=()
for tool in javac java; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
for jar in "${JARS[@]}"; do
  [ -f "$jar" ] || missing+=("$jar")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "error: the Java core needs ${missing[*]}; run \`make java-deps\` (Debian: default-jdk-headless junit4 libhamcrest-java libgoogle-gson-java)" >&2
  exit 2
fi

if [ $# -ge 1 ]; then
  BUILD="$1"
  mkdir -p "$BUILD"
else
  BUILD="$(mktemp -d "${TMPDIR:-/tmp}/mmnet-core.XXXXXX")"
  trap 'rm -rf "$BUILD"' EXIT
fi
rm -rf "$BUILD/main" "$BUILD/test"
mkdir -p "$BUILD/main" "$BUILD/test"

# The library targets Java 11 (Android); -Xlint shows what Gradle's build would warn about.
find "$CORE/src/main/java" -name '*.java' > "$BUILD/main-sources.txt"
javac --release 11 -encoding UTF-8 -Xlint:all,-serial -cp "$JAVA_LIB/gson.jar" -d "$BUILD/main" @"$BUILD/main-sources.txt"

find "$CORE/src/test/java" -name '*.java' > "$BUILD/test-sources.txt"
CP="$BUILD/main:$(IFS=:; echo "${JARS[*]}")"
javac --release 11 -encoding UTF-8 -Xlint:all,-serial -cp "$CP" -d "$BUILD/test" @"$BUILD/test-sources.txt"

# A test class is a source file with JUnit 4 annotations; helpers (fakes) have none.
classes=()
while IFS= read -r file; do
  if grep -qE '@(Test|RunWith)\b' "$file"; then
    rel="${file#"$CORE/src/test/java/"}"
    classes+=("$(echo "${rel%.java}" | tr / .)")
  fi
done < <(sort "$BUILD/test-sources.txt")
if [ "${#classes[@]}" -eq 0 ]; then
  echo "error: no JUnit test class under $CORE/src/test/java" >&2
  exit 1
fi

echo "running ${#classes[@]} test classes: ${classes[*]}"
java -cp "$BUILD/test:$CORE/src/test/resources:$CP" org.junit.runner.JUnitCore "${classes[@]}"
