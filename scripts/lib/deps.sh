# Sourced by scripts/run and scripts/test: installs the Debian packages Stratus needs
# that this machine lacks. Idempotent; runs apt-get only when something is missing.

# The given packages that are not installed, one a line.
missing_packages() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

# What runs apt as root here: nothing as root, else sudo (or an error saying so).
root_prefix() {
    [ "$(id -u)" -eq 0 ] && return 0
    command -v sudo >/dev/null || { echo "error: need root (or sudo) to install Debian packages" >&2; return 1; }
    echo sudo
}

apt_install() {
    local missing sudo
    mapfile -t missing < <(missing_packages "$@")
    [ ${#missing[@]} -eq 0 ] && return 0
    sudo=$(root_prefix) || return 1
    echo "==> installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq -o DPkg::Lock::Timeout=600
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "${missing[@]}"
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
# namespace per simulated host (util-linux), sshd, and openssl for password hashes; the
# hosts' libvirtd and QEMU come from ensure_hypervisor.
ensure_testbed() {
    apt_install iproute2 util-linux openssh-server openssl
}

# The test bed's cloud guest image (tests/testbed/guest-image.sh): mmdebstrap builds the
# Debian root file system, sfdisk (fdisk) and mkfs.ext4 (e2fsprogs) lay out the disk,
# extlinux with syslinux-common's MBR makes it bootable, qemu-img (ensure_hypervisor,
# pinned there) converts it; genisoimage makes the config drives of tests/tests/guest_image.rs
# and openssh-client logs into the guest; iputils-ping pings one while it migrates (e2e_migrate).
ensure_guest_image_tools() {
    apt_install mmdebstrap extlinux syslinux-common e2fsprogs fdisk genisoimage openssh-client \
        iputils-ping
}

# The instance tests read a guest's console as text: `virsh screenshot`, then OCR
# (tesseract) to find the iPXE banner, as a person looking at the console would.
ensure_ocr() {
    apt_install tesseract-ocr tesseract-ocr-eng
}

# The config drive test (agent/tests/config_drive_tools.rs) checks the agent's ISO 9660
# images with other readers: isoinfo (genisoimage), xorriso, and blkid (util-linux).
ensure_iso_tools() {
    apt_install genisoimage xorriso util-linux
}

# The README's walkthrough, which tests/tests/readme_first_vm.rs runs as written: curl
# and jq read the API's answers (ipxe comes with ensure_hypervisor, OCR with ensure_ocr).
ensure_readme_tools() {
    apt_install curl jq
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

# QEMU, libvirt and what guests of a simulated host need: qemu-block-extra (qemu's libnfs
# driver: guests read their disks and ISOs over NFS), dnsmasq-base (the binary only, no
# system service), nftables (`nft`: the agent enforces security groups with it; Debian
# does not enable its service, whose /etc/nftables.conf starts with `flush ruleset`),
# ipxe (/usr/lib/ipxe/ipxe.iso, a tiny bootable ISO). Idempotent; fast when everything
# is there.
#
# Two traps:
# - A machine may carry a newer qemu-utils (a backport) than Debian 12's qemu-system-x86.
#   Installing qemu-system-x86 then silently REMOVES qemu-utils (no more qemu-img), and
#   asking for plain qemu-utils fails with unmet dependencies. So all three qemu packages
#   are pinned to one version: the installed qemu-system-x86's, else its candidate
#   (--allow-downgrades lets apt replace the backport).
# - Packages must not leave daemons running that nobody asked for. Debian's libvirt ships
#   systemd units only (no init scripts), so without systemd nothing starts; where no
#   /usr/sbin/policy-rc.d exists, one that forbids starting services is put in place for
#   the duration of the install, so a machine with systemd gets no system-wide libvirtd,
#   virtlogd or machined from us either. The simulated hosts start their own, by PID.
ensure_hypervisor() {
    local missing sudo sys_ver utils_ver
    mapfile -t missing < <(missing_packages qemu-system-x86 qemu-block-extra qemu-utils \
        libvirt-daemon-system libvirt-clients dnsmasq-base nftables ipxe)
    sys_ver=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || true)
    utils_ver=$(dpkg-query -W -f='${Version}' qemu-utils 2>/dev/null || true)
    if [ ${#missing[@]} -eq 0 ] && [ "$sys_ver" = "$utils_ver" ] && command -v qemu-img >/dev/null; then
        return 0
    fi
    sudo=$(root_prefix) || return 1
    echo "==> installing QEMU and libvirt: ${missing[*]:-qemu-utils matching qemu-system-x86}"
    $sudo apt-get update -qq -o DPkg::Lock::Timeout=600
    # The installed qemu-system-x86's version if qemu-utils exists in it, else the candidate.
    local available ver=$sys_ver
    available=$(apt-cache madison qemu-utils | awk '{print $3}')
    if [ -z "$ver" ] || ! grep -qxF "$ver" <<<"$available"; then
        ver=$(apt-cache policy qemu-system-x86 | awk '/Candidate:/ {print $2}')
    fi
    if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
        echo "error: no qemu-system-x86 package available (apt sources?)" >&2
        return 1
    fi
    if ! grep -qxF "$ver" <<<"$available"; then
        echo "error: qemu-utils $ver (matching qemu-system-x86) is not available; apt-cache madison qemu-utils" >&2
        return 1
    fi
    local policy=/usr/sbin/policy-rc.d own_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# Temporary (Stratus scripts/lib/deps.sh): start no services during this install.\nexit 101\n' |
            $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        own_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        -o DPkg::Lock::Timeout=600 --allow-downgrades \
        "qemu-system-x86=$ver" "qemu-block-extra=$ver" "qemu-utils=$ver" \
        libvirt-daemon-system libvirt-clients dnsmasq-base nftables ipxe || rc=$?
    [ -z "$own_policy" ] || $sudo rm -f "$policy"
    [ $rc -eq 0 ] || return $rc
    qemu-img --version >/dev/null || { echo "error: qemu-img does not work after the install" >&2; return 1; }
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

# The browser test of the web console (tests/tests/browser_console.rs): Node.js with npm,
# Debian's Chromium (playwright-core drives it; no browser is ever downloaded), and
# playwright-core itself, pinned by tests/browser/package-lock.json. A Node.js that
# already brings its own npm (e.g. NodeSource's) is kept as it is.
ensure_browser_test() {
    command -v node >/dev/null || apt_install nodejs
    command -v npm >/dev/null || apt_install npm
    [ -x /usr/bin/chromium ] || apt_install chromium
    if [ ! -f tests/browser/node_modules/playwright-core/package.json ]; then
        echo "==> installing playwright-core into tests/browser/node_modules"
        (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
    fi
}
