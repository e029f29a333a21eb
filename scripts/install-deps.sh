#!/usr/bin/env bash
# scripts/install-deps.sh: installs the Debian 12 packages shrike builds and tests
# with, only those missing (so a second run costs nothing). Uses sudo when not root.
# The CUDA toolkit (nvcc, cuDNN, NCCL) is not a Debian package: when it is under
# /usr/local/cuda the build uses it, otherwise shrike builds for CPU only.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libyaml-cpp-dev libboost-program-options-dev
  libgtest-dev
  libturbojpeg0-dev libpng-dev libexif-dev
  libssl-dev libsqlite3-dev libfmt-dev nlohmann-json3-dev
  libdnnl-dev
  python3-h5py  # tests read shards with h5py, as users will
  libonnx-dev libprotobuf-dev  # ONNX export: protobuf classes and onnx::checker
  slurm-wlm munge  # the single-node Slurm of the `slurm` tests (slurm/testcluster)
  libcpp-httplib-dev libjs-chart.js  # shrike serve: the HTTP server and the page's charts (built in)
  chromium curl  # the dashboard's browser test (with npm playwright-core) and API test
)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
# The ONNX Runtime test installs onnxruntime-node with npm; node may come from elsewhere (NodeSource).
command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
