#!/usr/bin/env bash
# Builds (or finds in the cache) the test bed's real cloud guest image: a minimal Debian
# bookworm with its cloud kernel, cloud-init and openssh-server, bootable by SeaBIOS
# (extlinux on one ext4 partition of an MBR disk), as a compressed qcow2 of 2 GiB virtual
# size. Prints the image's path on stdout (the only line there); progress goes to stderr.
#
#   tests/testbed/guest-image.sh            # as root
#   STRATUS_TESTBED_CACHE=/some/dir tests/testbed/guest-image.sh
#
# Why built and not downloaded: nothing but Debian's packages may come from outside. The
# packages come from this machine's own apt sources (the bookworm entries of
# /etc/apt/sources.list{,.d}), nothing else is fetched.
#
# Cache: ${STRATUS_TESTBED_CACHE:-/var/cache/stratus-testbed}/guest-images/
# bookworm-cloud-<key>.qcow2, where <key> hashes this script (less its comment lines)
# and the apt sources it used, so editing the script rebuilds and an unchanged one reuses
# the file. A build
# happens in a temporary directory beside it and is renamed into place at the end; a
# flock on guest-images/.lock serialises concurrent callers (the second one finds the
# first one's image). `bookworm-cloud.qcow2` there is a symlink to the newest image;
# images of other keys are removed after a successful build.
#
# What the guest expects (see docs/testbed.md, "The guest image"):
# - BIOS boot (machine `pc`), root disk virtio (`vda`) or IDE (the partition is found by
#   UUID), the config drive an IDE cdrom labelled `config-2`, a virtio NIC: the cloud
#   kernel has no AHCI (SATA) and no e1000 driver;
# - cloud-init `datasource_list: [ ConfigDrive, CloudStack, None ]`; the network is
#   rendered by cloud-init's `eni` renderer (ifupdown + isc-dhcp-client): with no
#   network_data.json the first NIC gets DHCP;
# - user `debian` (cloud-init's default user on Debian) receives the public keys; root
#   is locked, no password or key is baked in; sshd's host keys are made at first boot;
# - console on ttyS0 (115200) and tty0; no boot menu delay;
# - growpart + resize2fs (cloud-guest-utils, e2fsprogs) grow the root partition and file
#   system to the size of a bigger root volume at first boot.
set -euo pipefail

SCRIPT=$(readlink -f "$0")
CACHE=${STRATUS_TESTBED_CACHE:-/var/cache/stratus-testbed}/guest-images
SUITE=bookworm
SIZE_MIB=2048
PART_START_MIB=1
PACKAGES=(
    systemd-sysv udev kmod hostname netbase iproute2 ifupdown isc-dhcp-client
    linux-image-cloud-amd64 initramfs-tools
    cloud-init cloud-guest-utils e2fsprogs fdisk sudo
    openssh-server
)

log() { echo "guest-image: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { log "must run as root (mmdebstrap, loop mount, extlinux)"; exit 1; }
for tool in mmdebstrap extlinux sfdisk mkfs.ext4 losetup qemu-img; do
    command -v "$tool" >/dev/null || {
        log "$tool is missing; run: bash -c '. scripts/lib/deps.sh; ensure_guest_image_tools'"
        exit 1
    }
done

# The machine's apt sources that carry $SUITE (deb822 .sources or one-line .list files).
SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -qE "^[^#]*\b$SUITE\b" "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || { log "no apt source of this machine names $SUITE"; exit 1; }

KEY=$( { grep -v '^[[:space:]]*#' "$SCRIPT"; cat "${SOURCES[@]}"; } | sha256sum | cut -c1-16)
IMAGE=$CACHE/$SUITE-cloud-$KEY.qcow2
mkdir -p "$CACHE"

exec 9>"$CACHE/.lock"
flock 9
if [ -s "$IMAGE" ]; then
    log "cached: $IMAGE"
    echo "$IMAGE"
    exit 0
fi

log "building $IMAGE (key $KEY, sources: ${SOURCES[*]})"
START=$(date +%s)
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
MNT=$WORK/mnt
LOOP=""
cleanup() {
    mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
    [ -z "$LOOP" ] || losetup -d "$LOOP" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

ROOTFS=$WORK/rootfs
ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)

# The root file system's content. Docs, man pages and translations are left out; no
# recommends (mmdebstrap's default). /etc/fstab is written before the kernel is installed,
# so the initramfs carries fsck for the root file system. Customize hooks run last.
# shellcheck disable=SC2016 # the hooks' "$1" is mmdebstrap's (the root directory)
mmdebstrap --mode=root --variant=apt --format=directory \
    --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --essential-hook="echo 'UUID=$ROOT_UUID / ext4 defaults,errors=remount-ro 0 1' >\"\$1/etc/fstab\"" \
    --customize-hook='chroot "$1" passwd --lock root >/dev/null' \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/cache/apt/archives/*.deb' \
    --customize-hook='rm -f "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/var/cache/debconf/*-old' \
    "$SUITE" "$ROOTFS" "${SOURCES[@]}" >&2

# --- configuration inside the image ---
KVER=$(basename "$(ls -1 "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -n1)" | sed 's/^vmlinuz-//')
[ -f "$ROOTFS/boot/initrd.img-$KVER" ] || { log "no initrd for $KVER"; exit 1; }

echo localhost >"$ROOTFS/etc/hostname"
cat >"$ROOTFS/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
EOF
# Each boot of a new VM makes its own machine id (empty file: systemd fills it in).
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id"
# ifupdown brings up what cloud-init writes to interfaces.d (50-cloud-init).
cat >"$ROOTFS/etc/network/interfaces" <<'EOF'
auto lo
iface lo inet loopback

source /etc/network/interfaces.d/*
EOF
# The locale cloud-init would otherwise generate at first boot (slow under TCG).
echo 'LANG=C.UTF-8' >"$ROOTFS/etc/default/locale"

# Debian's package writes datasource_list from debconf into 90_dpkg.cfg; ours replaces it.
cat >"$ROOTFS/etc/cloud/cloud.cfg.d/90_dpkg.cfg" <<'EOF'
# Stratus test bed (tests/testbed/guest-image.sh): the config drive first, then the
# CloudStack metadata service (virtual router), else nothing.
datasource_list: [ ConfigDrive, CloudStack, None ]
EOF
cat >"$ROOTFS/etc/cloud/cloud.cfg.d/95_stratus.cfg" <<'EOF'
# Stratus test bed: C.UTF-8 needs no locale-gen at first boot; /etc/hosts names the VM
# (else sudo waits on DNS for its own hostname); no RSA or DSA host key (an RSA key takes
# ~20 s of TCG to make).
locale: C.UTF-8
manage_etc_hosts: true
ssh_genkeytypes: [ ed25519, ecdsa ]
EOF

# sshd's host keys are made on this VM's first boot, never baked into the image: cloud-init
# (cc_ssh) makes them; should it have made none, ssh.service makes them before its config
# test.
mkdir -p "$ROOTFS/etc/systemd/system/ssh.service.d"
cat >"$ROOTFS/etc/systemd/system/ssh.service.d/10-host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1 || exec /usr/bin/ssh-keygen -A'
ExecStartPre=/usr/sbin/sshd -t
EOF

# Nothing periodic that would compete with a test for the one emulated CPU.
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    rm -f "$ROOTFS/etc/systemd/system/timers.target.wants/$unit"
done

mkdir -p "$ROOTFS/boot/extlinux"
cat >"$ROOTFS/boot/extlinux/extlinux.conf" <<EOF
SERIAL 0 115200
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
    LINUX /boot/vmlinuz-$KVER
    INITRD /boot/initrd.img-$KVER
    APPEND root=UUID=$ROOT_UUID ro console=tty0 console=ttyS0,115200n8
EOF

# --- the disk: MBR, one bootable Linux partition from 1 MiB to the end ---
RAW=$WORK/disk.raw
truncate -s "${SIZE_MIB}M" "$RAW"
echo "start=$((PART_START_MIB * 2048)), type=83, bootable" | sfdisk --quiet --label dos "$RAW" >&2
dd if=/usr/lib/syslinux/mbr/mbr.bin of="$RAW" bs=440 count=1 conv=notrunc status=none
# ext4 without 64bit (extlinux reads the file system); filled from the directory.
mkfs.ext4 -q -F -O ^64bit -L root -U "$ROOT_UUID" -E "offset=$((PART_START_MIB * 1048576))" \
    -d "$ROOTFS" "$RAW" "$((SIZE_MIB - PART_START_MIB))M" >&2
LOOP=$(losetup --find --show --offset "$((PART_START_MIB * 1048576))" \
    --sizelimit "$(((SIZE_MIB - PART_START_MIB) * 1048576))" "$RAW")
mkdir -p "$MNT"
mount "$LOOP" "$MNT"
extlinux --install "$MNT/boot/extlinux" >&2
umount "$MNT"
losetup -d "$LOOP"
LOOP=""

qemu-img convert -O qcow2 -c "$RAW" "$WORK/image.qcow2"
mv "$WORK/image.qcow2" "$IMAGE"
ln -sfn "$(basename "$IMAGE")" "$CACHE/$SUITE-cloud.qcow2"
for old in "$CACHE/$SUITE"-cloud-*.qcow2; do
    [ "$old" = "$IMAGE" ] || rm -f "$old"
done
log "built in $(($(date +%s) - START)) s: $IMAGE ($(du -h "$IMAGE" | cut -f1); kernel $KVER)"
echo "$IMAGE"
