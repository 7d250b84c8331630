#!/bin/sh
# cuda-headers.sh fetches the CUDA 11.8 runtime and cuBLAS headers and
# libraries from Debian's non-free section and unpacks them, without
# installing anything, into a cache folder (default ./.cache/cuda), so that
# the cgo code behind the "cuda" build tag can be compiled, vetted and linked
# on a machine without a GPU or an NVIDIA toolkit. nvcc is not among them:
# the .cu kernels are compiled only where a real toolkit exists (make cuda).
#
# It uses a private apt configuration: the system's sources are not edited
# and no root access is needed. It is idempotent: a complete cache (marked
# by the file .complete) is left as it is.
#
# Usage: .ci/cuda-headers.sh [cache-dir]
# Environment: CUDA_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              CUDA_DEBIAN_SUITE (default bookworm).
set -eu

dest=${1:-.cache/cuda}
mirror=${CUDA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${CUDA_DEBIAN_SUITE:-bookworm}
pkgs="nvidia-cuda-dev libcudart11.0 libcublas11 libcublaslt11"

mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -f "$dest/.complete" ]; then
	echo "cuda-headers: $dest is complete"
	exit 0
fi

work="$dest/.apt"
mkdir -p "$work/etc/preferences.d" "$work/etc/apt.conf.d" "$work/state/lists/partial" \
	"$work/cache/archives/partial" "$work/debs"
touch "$work/state/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main contrib non-free" \
	>"$work/etc/sources.list"

apt_opts="-o Dir::Etc=$work/etc -o Dir::Etc::sourcelist=$work/etc/sources.list
 -o Dir::Etc::sourceparts=- -o Dir::Etc::parts=$work/etc/apt.conf.d
 -o Dir::Etc::preferencesparts=$work/etc/preferences.d
 -o Dir::State=$work/state -o Dir::State::status=$work/state/status
 -o Dir::Cache=$work/cache -o Debug::NoLocking=1 -o APT::Sandbox::User=$(id -un)"

# shellcheck disable=SC2086 # apt_opts is a list of words on purpose
apt-get -q $apt_opts update
cd "$work/debs"
for p in $pkgs; do
	# shellcheck disable=SC2086
	apt-get -q $apt_opts download "$p"
done
# Only headers and shared libraries: the static archives (over 1 GB) and
# the documentation are left out.
mkdir -p "$dest/root"
for deb in "$work"/debs/*.deb; do
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest/root" --exclude='*.a' --exclude='./usr/share/*'
done

# A stable layout: include/ and lib/ at the top of the cache, whatever the
# multiarch paths inside the packages are.
rm -rf "$dest/include" "$dest/lib"
mkdir -p "$dest/lib"
ln -s "$(dirname "$(find "$dest/root" -name cuda_runtime.h | head -n 1)")" "$dest/include"
for f in $(find "$dest/root" -path '*/stubs' -prune -o \( -name 'libcudart*.so*' -o -name 'libcublas*.so*' \) -print); do
	ln -sf "$f" "$dest/lib/"
done
for h in cuda_runtime.h cublas_v2.h cublasLt.h; do
	test -f "$dest/include/$h" || { echo "cuda-headers: $h is missing" >&2; exit 1; }
done
for l in libcudart.so libcublas.so libcublasLt.so; do
	test -e "$dest/lib/$l" || { echo "cuda-headers: $l is missing" >&2; exit 1; }
done
rm -rf "$work"
touch "$dest/.complete"
echo "cuda-headers: CUDA headers and libraries in $dest"
