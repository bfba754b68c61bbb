#!/usr/bin/env bash
# Downloads the binary version of CIFAR-10, checks its md5 against the one
# published on https://www.cs.toronto.edu/~kriz/cifar.html, and unpacks it.
#
#   datasets/fetch_cifar10.sh [DEST]        (DEST defaults to datasets/cifar10)
#   then: --data cifar10:DEST   (the loader finds DEST/cifar-10-batches-bin)
#
# CIFAR10_URL / CIFAR10_MD5 override the source and its checksum (a mirror,
# or a local file:// copy).
set -euo pipefail

DEST=${1:-"$(dirname "$0")/cifar10"}
URL=${CIFAR10_URL:-https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz}
MD5=${CIFAR10_MD5:-c32a1d4ab5d03f1284b67883e8d87530}
TARBALL="$DEST/cifar-10-binary.tar.gz"
FILES="data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin"

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then md5sum "$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then md5 -q "$1"
  else echo "fetch_cifar10: neither md5sum nor md5 is installed" >&2; exit 1
  fi
}

mkdir -p "$DEST"
if [ ! -f "$TARBALL" ]; then
  echo "fetch_cifar10: downloading $URL"
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$TARBALL.part" "$URL"
  elif command -v wget >/dev/null 2>&1; then
    wget -O "$TARBALL.part" "$URL"
  else
    echo "fetch_cifar10: neither curl nor wget is installed" >&2
    exit 1
  fi
  mv "$TARBALL.part" "$TARBALL"
fi

got=$(md5_of "$TARBALL")
if [ "$got" != "$MD5" ]; then
  echo "fetch_cifar10: $TARBALL: md5 $got, expected $MD5: corrupt or not CIFAR-10; removed, run again" >&2
  rm -f "$TARBALL"
  exit 1
fi
echo "fetch_cifar10: md5 ok ($MD5)"

tar -xzf "$TARBALL" -C "$DEST"
for f in $FILES; do
  if [ ! -f "$DEST/cifar-10-batches-bin/$f" ]; then
    echo "fetch_cifar10: $DEST/cifar-10-batches-bin/$f missing after unpacking" >&2
    exit 1
  fi
done
echo "fetch_cifar10: CIFAR-10 is in $DEST/cifar-10-batches-bin; use --data cifar10:$DEST"
