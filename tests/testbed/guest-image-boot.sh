#!/usr/bin/env bash
# Boots the guest image (tests/testbed/guest-image.sh) under TCG with a hand-made config
# drive and logs in over SSH: the by-hand twin of tests/tests/guest_image.rs.
#
#   tests/testbed/guest-image-boot.sh [IMAGE]      # as root; IMAGE defaults to the cached one
#   GUEST_MEM_MIB=512 tests/testbed/guest-image-boot.sh   # memory (default 1024)
#
# QEMU directly (no libvirt): machine pc (SeaBIOS), the image as a 4 GiB qcow2 overlay on
# virtio (so growpart has room to grow), the config drive (ISO 9660, label config-2,
# OpenStack layout) as an IDE cdrom, a virtio NIC on user-mode networking with
# restrict=on (the guest reaches nothing; only the hostfwd from 127.0.0.1 comes in).
# Checks: SSH login as `debian` with the key from meta_data.json, the file written by the
# user data, the hostname, the grown root file system. Keeps the serial log in the work
# directory it prints. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${1:-$(tests/testbed/guest-image.sh)}
WORK=$(mktemp -d /tmp/stratus-guest-boot.XXXXXX)
echo "work directory: $WORK (serial log: $WORK/serial.log)"
QEMU_PID=""
cleanup() { [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true; }
trap cleanup EXIT

NAME=vm-guest-image-test
ssh-keygen -q -t ed25519 -N '' -C stratus-test -f "$WORK/id"
mkdir -p "$WORK/cd/openstack/latest"
cat >"$WORK/cd/openstack/latest/meta_data.json" <<EOF
{"uuid": "$(cat /proc/sys/kernel/random/uuid)", "hostname": "$NAME", "name": "$NAME",
 "public_keys": {"stratus-test": "$(cat "$WORK/id.pub")"}}
EOF
cat >"$WORK/cd/openstack/latest/user_data" <<'EOF'
#cloud-config
write_files:
  - path: /var/tmp/stratus-userdata-ok
    content: "user data applied\n"
EOF
genisoimage -quiet -o "$WORK/config.iso" -V config-2 -J -R "$WORK/cd"

qemu-img create -q -f qcow2 -b "$IMAGE" -F qcow2 "$WORK/root.qcow2" 4G
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
T0=$(date +%s)
qemu-system-x86_64 -machine pc,accel=tcg -m "${GUEST_MEM_MIB:-1024}" -smp 1 -display none \
    -serial "file:$WORK/serial.log" -monitor none -pidfile "$WORK/qemu.pid" -daemonize \
    -drive "file=$WORK/root.qcow2,if=virtio,format=qcow2" \
    -drive "file=$WORK/config.iso,media=cdrom,if=ide,index=2,readonly=on" \
    -netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22" \
    -device virtio-net-pci,netdev=n0
QEMU_PID=$(cat "$WORK/qemu.pid")

SSH=(ssh -i "$WORK/id" -p "$PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o ConnectTimeout=5 -o BatchMode=yes -o LogLevel=ERROR debian@127.0.0.1)
deadline=$((T0 + 300))
until OUT=$("${SSH[@]}" 'cat /var/tmp/stratus-userdata-ok; hostname; df -BM --output=size / | tail -n1' 2>/dev/null); do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "FAIL: no SSH login within 300 s; serial log tail:"
        tail -n 40 "$WORK/serial.log"
        exit 1
    fi
    sleep 3
done
echo "SSH login after $(($(date +%s) - T0)) s from power-on"
echo "$OUT"
grep -qx 'user data applied' <<<"$OUT" || { echo "FAIL: user data file missing"; exit 1; }
grep -qx "$NAME" <<<"$OUT" || { echo "FAIL: hostname is not $NAME"; exit 1; }
# For the record: which network renderer cloud-init chose, and the host keys it made.
"${SSH[@]}" 'sudo grep -ohE "Selected renderer [^ ]+ [^ ]+|Chose renderer[^\n]*" /var/log/cloud-init.log | sort -u; ls /etc/ssh/ssh_host_*_key.pub; cat /etc/network/interfaces.d/50-cloud-init' || true
echo "OK"
