# Sourced by scripts/run and scripts/test: installs the Debian packages Stratus needs
# that this machine lacks. Idempotent; runs apt-get only when something is missing.

apt_install() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "error: need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
        sudo="sudo"
    fi
    echo "==> installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# PostgreSQL server binaries (the embedded default runs a private cluster with them).
ensure_postgres() {
    if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        apt_install postgresql
    fi
}

# C libraries the build links against (the agent drives libvirt through the virt crate).
ensure_build_deps() {
    apt_install libvirt-dev pkg-config
}

# What the end-to-end test bed needs: namespaces and veths (iproute2), a private mount
# namespace per simulated host (util-linux), sshd, and openssl for password hashes.
ensure_testbed() {
    apt_install iproute2 util-linux openssh-server openssl
}

# The simulated NFS server of the tests (tests/testbed/nfs-server.sh): nfs-ganesha with its
# VFS backend, rpcbind, and showmount (nfs-common). Without systemd their postinst scripts
# start nothing (invoke-rc.d finds no runlevel; ganesha has only systemd units). Should an
# install start rpcbind, rpc.statd or ganesha here anyway, the processes it started (new,
# in this network namespace; the test servers live in their own) are stopped by PID.
nfs_daemon_pids() {
    local name
    for name in rpcbind rpc.statd ganesha.nfsd; do pgrep -x "$name" || true; done
}

ensure_nfs_server() {
    local before pid
    before=$(nfs_daemon_pids)
    apt_install nfs-ganesha nfs-ganesha-vfs rpcbind nfs-common
    for pid in $(nfs_daemon_pids); do
        grep -qx "$pid" <<<"$before" && continue
        [ "$(readlink "/proc/$pid/ns/net")" = "$(readlink /proc/self/ns/net)" ] || continue
        echo "==> stopping $(cat "/proc/$pid/comm" 2>/dev/null) (pid $pid), started by the package install"
        kill "$pid" 2>/dev/null || true
    done
}

ensure_rust() {
    command -v cargo >/dev/null || {
        echo "error: cargo (the Rust toolchain) is required to build Stratus; see https://rustup.rs" >&2
        return 1
    }
}

# A Python that can make virtual environments (for the cs client used by the tests).
ensure_python_venv() {
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        apt_install python3-venv
    fi
}
