#!/usr/bin/env bash
# The test command the README shows: formatting, vet, staticcheck, and the
# whole test suite under the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

echo "== go test -race"
go test -race -timeout 30m ./...

# Bugs planted inside the engine by test-only build tags (see
# internal/plant): the harness must report each, with a command that
# reproduces it.
for tag in inmem_plant_close_nosync inmem_plant_snapshot_trustlen; do
	echo "== planted engine bug: -tags $tag"
	go vet -tags "$tag" ./...
	go test -tags "$tag" -run '^TestPlanted_' ./cmd/inmem
done

# The benchmark tool and the other engines' crash targets are modules of
# their own, so that bbolt, Pebble, Badger and SQLite never become
# dependencies of in-mem; their tests run every adapter at a tiny size.
echo "== bench module: go test"
go -C bench vet ./...
go -C bench test -timeout 20m ./...

echo "== crashtargets module: go test"
go -C crashtargets vet ./...
go -C crashtargets test -timeout 20m ./...
# goleveldb before and after its PR #351, each in a module of its own over
# one adapter module: the known-bug test above builds and runs both.
for m in leveldbtarget goleveldb-buggy goleveldb-fixed; do
	go -C "crashtargets/$m" vet ./...
done
