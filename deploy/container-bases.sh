#!/usr/bin/env bash
# Makes, from Debian packages, the two base images that deploy/Dockerfile names, for a
# machine that can reach a Debian mirror and the crates registry but no container registry:
#
#   docker.io/library/debian:bookworm-slim             debootstrap --variant=minbase bookworm
#   docker.io/library/rust:<channel>-slim-bookworm     the above + gcc, libc6-dev,
#                                                      ca-certificates and this machine's Rust
#                                                      toolchain (the channel of
#                                                      rust-toolchain.toml), laid out as in the
#                                                      official image (/usr/local/cargo,
#                                                      /usr/local/rustup)
#
# The builder image trusts this machine's CA bundle (/etc/ssl/certs/ca-certificates.crt), so
# that cargo reaches the registry wherever this machine does.
# Cached: an image that podman already has is left as it is (FORCE=1 rebuilds both).
# Needs root, podman, runc, debootstrap and rustup with the pinned toolchain installed.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/container-env.sh

RUST=$(rust_channel)
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
RUST_IMAGE=docker.io/library/rust:$RUST-slim-bookworm

have() { [ "${FORCE:-0}" != 1 ] && pm image exists "$1"; }

if have "$DEBIAN_IMAGE"; then
  echo "$DEBIAN_IMAGE: present"
else
  echo "$DEBIAN_IMAGE: debootstrap --variant=minbase bookworm"
  root=$(mktemp -d "$CONTAINER_STATE/debootstrap.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" >"$CONTAINER_STATE/debootstrap.log" 2>&1 \
    || { tail -30 "$CONTAINER_STATE/debootstrap.log" >&2; exit 1; }
  # What a slim image leaves out: the package cache and lists, documentation.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  tar -C "$root" --numeric-owner -c . | pm import --change 'CMD ["bash"]' - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

if have "$RUST_IMAGE"; then
  echo "$RUST_IMAGE: present"
else
  echo "$RUST_IMAGE: $DEBIAN_IMAGE + gcc, libc6-dev, ca-certificates, Rust $RUST"
  sysroot=$(rustc "+$RUST" --print sysroot)
  target=$(rustc "+$RUST" -vV | sed -n 's/^host: //p')
  context=$(mktemp -d "$CONTAINER_STATE/rust-image.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  cat >"$context/Containerfile" <<CONTAINERFILE
FROM $DEBIAN_IMAGE
ENV RUSTUP_HOME=/usr/local/rustup \\
    CARGO_HOME=/usr/local/cargo \\
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    RUST_VERSION=$RUST
RUN apt-get update \\
    && apt-get install -y --no-install-recommends gcc libc6-dev ca-certificates \\
    && rm -rf /var/lib/apt/lists/* \\
    && cp /host/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt \\
    && dir=/usr/local/rustup/toolchains/$RUST-$target \\
    && mkdir -p "\$dir" /usr/local/cargo/bin \\
    && for part in /host/toolchain/*; do [ "\${part##*/}" = share ] || cp -a "\$part" "\$dir"/; done \\
    && for tool in "\$dir"/bin/*; do ln -s "\$tool" /usr/local/cargo/bin/; done \\
    && chmod -R a+w /usr/local/cargo \\
    && cargo --version && rustc --version
CONTAINERFILE
  pm build --pull=never --network host \
    -v "$sysroot:/host/toolchain:ro" \
    -v /etc/ssl/certs/ca-certificates.crt:/host/ca-certificates.crt:ro \
    -t "$RUST_IMAGE" "$context"
  rm -rf "$context"
  trap - EXIT
fi
