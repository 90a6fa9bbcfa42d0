# Sourced by container-bases.sh and container-test.sh: podman settings that work where
# systemd does not manage the cgroups (cgroups v1, or a machine without a systemd session).
#   - runc as the OCI runtime, the cgroupfs cgroup manager;
#   - no default ulimits (podman's default nofile/nproc limits cannot always be applied
#     inside an unprivileged or nested environment).
# Exports CONTAINERS_CONF (unless already set) and defines `pm`, podman with those settings.

CONTAINER_STATE=${CONTAINER_STATE:-${TMPDIR:-/tmp}/groupsync-containers}
mkdir -p "$CONTAINER_STATE"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF="$CONTAINER_STATE/containers.conf"
  cat >"$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
CONF
fi

pm() { podman --runtime runc "$@"; }

# The Rust release the image's builder uses: rust-toolchain.toml's channel.
rust_channel() {
  sed -n 's/^channel *= *"\([^"]*\)".*/\1/p' "$(dirname "${BASH_SOURCE[0]}")/../rust-toolchain.toml"
}
