#!/usr/bin/env bash
# Fetches the test kernel: a Debian kernel package, unpacked (not installed)
# into .cache/kernel/<abi>, with modules.dep made by depmod, since the .deb
# ships none (the package's postinst would run depmod).
#
# The ABI is pinned here and nowhere else. Debian drops superseded ABI
# packages after a security update; when the pinned one is no longer served,
# the one linux-image-amd64 depends on today is used instead, and we say so.
set -euo pipefail

PINNED_ABI=6.1.0-56-amd64

top=$(cd "$(dirname "$0")/.." && pwd)
cache="$top/.cache/kernel"
mkdir -p "$cache"

abi=$PINNED_ABI
if [ ! -f "$cache/$abi/lib/modules/$abi/modules.dep" ]; then
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	cd "$tmp"
	if ! apt-get download "linux-image-$abi" >/dev/null 2>&1; then
		apt-get update -qq || true
		if ! apt-get download "linux-image-$abi" >/dev/null 2>&1; then
			abi=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n1)
			if [ -z "$abi" ]; then
				echo "kernel.sh: linux-image-$PINNED_ABI is not served and linux-image-amd64 names no kernel; check the apt sources" >&2
				exit 1
			fi
			echo "kernel.sh: NOTICE: pinned linux-image-$PINNED_ABI is no longer served by Debian; using linux-image-$abi, what linux-image-amd64 depends on today. Update PINNED_ABI in vmtest/kernel.sh." >&2
			if [ ! -f "$cache/$abi/lib/modules/$abi/modules.dep" ]; then
				apt-get download "linux-image-$abi" >/dev/null
			fi
		fi
	fi
	if [ ! -f "$cache/$abi/lib/modules/$abi/modules.dep" ]; then
		rm -rf "$cache/$abi"
		dpkg -x linux-image-"$abi"_*.deb "$cache/$abi.new"
		depmod -b "$cache/$abi.new" "$abi"
		mv "$cache/$abi.new" "$cache/$abi"
	fi
fi
test -f "$cache/$abi/boot/vmlinuz-$abi" || { echo "kernel.sh: $cache/$abi has no boot/vmlinuz-$abi" >&2; exit 1; }
ln -sfn "$abi" "$cache/current"
echo "$cache/$abi"
