#!/usr/bin/env bash
# Times `peft4j bench engine` under each nd4j-native classifier (generic x86_64, -avx512,
# -onednn-avx512), alternating the three in every round so machine noise hits all alike.
# Needs `mvn -q install -DskipTests` first. Usage: scripts/bench-classifiers.sh [ROUNDS] [extra bench options]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
shift || true
version=1.0.0-M2.1
lib=examples/target/lib
variants=target/nd4j-classifiers
[ -f examples/target/peft4j.jar ] || { echo "examples/target/peft4j.jar is missing: run 'mvn -q install -DskipTests' first" >&2; exit 1; }
mkdir -p "$variants"
for classifier in linux-x86_64-avx512 linux-x86_64-onednn-avx512; do
  [ -f "$variants/nd4j-native-$version-$classifier.jar" ] ||
    mvn -q dependency:copy -Dartifact="org.nd4j:nd4j-native:$version:jar:$classifier" -DoutputDirectory="$variants"
done
# a private copy of the build, so that a rebuild during the run cannot change the code under test
snapshot=$(mktemp -d)
trap 'rm -rf "$snapshot"' EXIT
cp examples/target/peft4j.jar "$snapshot/" && cp -r "$lib" "$snapshot/lib"
lib=$snapshot/lib
# the class path without the generic native jar; each variant adds its own
base=$(ls "$lib"/*.jar | grep -v "nd4j-native-$version-linux-x86_64.jar" | paste -sd:)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
for round in $(seq 1 "$rounds"); do
  for variant in generic avx512 onednn-avx512; do
    case $variant in
      generic) jar="$lib/nd4j-native-$version-linux-x86_64.jar"; extension="" ;;
      avx512) jar="$variants/nd4j-native-$version-linux-x86_64-avx512.jar"; extension="-avx512" ;;
      onednn-avx512) jar="$variants/nd4j-native-$version-linux-x86_64-onednn-avx512.jar"; extension="-onednn-avx512" ;;
    esac
    echo "== round $round, classifier $variant"
    java -Xmx4g -Dorg.bytedeco.javacpp.platform.extension="$extension" -cp "$snapshot/peft4j.jar:$base:$jar" \
      org.peft4j.examples.cli.Peft4jCli bench engine --rounds 1 "$@" | grep -E '^\{|^GPT'
  done
done
