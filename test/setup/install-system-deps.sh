#!/usr/bin/env bash
# Installs the Debian packages the tests need (registry, htpasswd, openssl, arm64 emulation); safe to run again
# and again.
#
# docker-registry: Debian's build of the CNCF distribution registry, used by the OCI integration tests.
# apache2-utils:   htpasswd, the only bcrypt writer on a stock Debian (the registry's htpasswd auth needs bcrypt).
# openssl:         the test CA and the registry's TLS and token-signing certificates.
# qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross (x86_64 machines only): qemu-aarch64-static and
#                  the arm64 sysroot (/usr/aarch64-linux-gnu) in which test/arm64/run.ts runs the arm64 Node.
set -euo pipefail

need=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ "$(uname -m)" = x86_64 ]; then
  command -v qemu-aarch64-static >/dev/null 2>&1 || need+=(qemu-user-static)
  [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need+=(libc6-arm64-cross)
  [ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || need+=(libstdc++6-arm64-cross)
fi

if [ "${#need[@]}" -eq 0 ]; then
  echo "system deps: all present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive

# An apt list that never saw an update knows no candidate; update once, only then.
candidate() { apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'; }
for pkg in "${need[@]}"; do
  c="$(candidate "$pkg")"
  if [ -z "$c" ] || [ "$c" = "(none)" ]; then
    echo "system deps: apt-get update (no candidate for $pkg)"
    $SUDO apt-get update -qq
    break
  fi
done

echo "system deps: installing ${need[*]}"
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system deps: installed ${need[*]}"
