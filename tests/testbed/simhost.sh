#!/usr/bin/env bash
# A simulated KVM host for the end-to-end tests: a network namespace on the test-bed
# bridge (lib.sh) running, in one private mount and UTS namespace, its own virtlogd,
# libvirtd (qemu:///system, TCG guests) and sshd. What the management server starts over
# SSH (the agent) runs in the same namespaces and so sees this host's libvirtd.
#
#   simhost.sh up NAME INDEX PASSWORD STATE_DIR   # host NAME at 10.231.INDEX.2/16
#   simhost.sh down NAME STATE_DIR                # stops what `up` started, by PID, and removes it
#   simhost.sh exec NAME STATE_DIR CMD [ARG...]   # runs CMD inside the host (e.g. virsh list)
#
# The management side is the bridge address 10.231.0.1 (the bridge exists while a machine
# is attached). Inside the host's mount namespace these are the host's own (bind mounts of
# STATE_DIR/NAME/...), so several simulated hosts share this machine's filesystem without
# clashing, and nothing of the machine's is written:
#   /etc/stratus, /var/lib/stratus-agent   the agent's configuration and files
#   /etc/pki                               libvirt's TLS certificates (live migration)
#   /etc/shadow                            root's password here is the test's
#   /etc/hosts                             resolves the host's own name (libvirt asks)
#   /etc/libvirt                           config (a copy of the machine's *.conf and
#                                          nwfilters) and persistent domain/network XML
#   /var/lib/libvirt, /var/cache/libvirt,  libvirt's state, capabilities cache, logs
#   /var/log/libvirt, /run/libvirt         and sockets
#   /run/dbus                              empty: libvirtd must not reach the machine's
#                                          system bus (firewalld, machined) from here
# libvirtd and virtlogd write their pid files under STATE_DIR/NAME (not /run/*.pid).
# libvirtd probes QEMU's capabilities on its first start (~8 s of TCG); the result is kept
# in $CAPS_SEED and copied into each new host's cache (libvirt re-probes if it is stale).
# `ip netns exec` mounts a fresh /sys without cgroup hierarchies, so libvirt puts guests
# in no cgroup (no shared /sys/fs/cgroup/*/machine paths between hosts).
# Needs root, iproute2, util-linux, openssh-server, openssl, libvirt-daemon-system and
# qemu-system-x86 (scripts/lib/deps.sh: ensure_testbed, ensure_hypervisor).
set -euo pipefail

. "$(dirname "$0")/lib.sh"

cmd=${1:?usage: simhost.sh up|down|exec ...}
name=${2:?host name}
ns="stratus-$name"
veth_root="sv-$name-m"
veth_host="sv-$name-h"
CAPS_SEED=/var/cache/stratus-testbed/qemu

# A live (not zombie) process.
alive() {
    [ -e "/proc/$1" ] && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null
}

# A process of this host: it runs in the host's network namespace (a pid file of a
# crashed run may name a reused PID of someone else's process).
ours() {
    [ "$(ip netns identify "$1" 2>/dev/null)" = "$ns" ]
}

# Stops, by PID, everything of this host: the daemons named by pid files (libvirtd first,
# so it shuts down cleanly), then whatever else still runs in the namespace (guests,
# SSH sessions, dnsmasq), TERM then KILL; then removes the namespace and its link.
stop_host() {
    local state=$1 pids=() pid f
    for f in "$state/agent/agent.pid" "$state/libvirtd.pid" "$state/virtlogd.pid" \
        "$state/ssh/sshd.pid" "$state/sshd.launcher.pid"; do
        pid=$(cat "$f" 2>/dev/null) || continue
        if ours "$pid" && kill "$pid" 2>/dev/null; then pids+=("$pid"); fi
    done
    # The routers this host's agent made (issue 15) are namespaces of their own
    # (stratus-<router>, named by the agent's router directories): their dnsmasq goes too.
    # They are mounted in the host's private mount namespace, where this script cannot
    # see them: their dnsmasq is found by its pid file (checked against its command line,
    # which names the router's directory, in case the PID was reused).
    local routers=() r
    for r in "$state"/agent/routers/*/; do
        [ -d "$r" ] || continue
        routers+=("stratus-$(basename "$r")")
        pid=$(cat "$r/dnsmasq.pid" 2>/dev/null) || continue
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "routers/$(basename "$r")/" &&
            kill "$pid" 2>/dev/null; then
            pids+=("$pid")
        fi
    done
    for sig in TERM KILL; do
        if ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\?"; then
            for pid in $(ip netns pids "$ns" 2>/dev/null); do
                if kill -s "$sig" "$pid" 2>/dev/null; then pids+=("$pid"); fi
            done
        fi
        for _ in $(seq 1 50); do
            local left=0
            for pid in "${pids[@]}"; do if alive "$pid"; then left=1; fi; done
            [ $left = 0 ] && break
            sleep 0.1
        done
    done
    for r in "${routers[@]}"; do ip netns del "$r" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    tb_detach "$veth_root"
}

# The PID whose namespaces are the host's (sshd, started last by the launcher).
host_pid() {
    local state=$1 pid
    pid=$(cat "$state/ssh/sshd.pid" 2>/dev/null) || { echo "host $name is not up" >&2; return 1; }
    ours "$pid" || { echo "host $name is not up (stale pid file)" >&2; return 1; }
    echo "$pid"
}

case "$cmd" in
up)
    index=${3:?index 1-250}
    password=${4:?root password for the simulated host}
    state=${5:?state directory}/$name
    host_ip="10.231.$index.2"
    # A crashed run may have left this host behind.
    stop_host "$state"
    rm -rf "$state"
    # Whatever fails from here on leaves nothing running (the state stays, for its logs).
    trap 'stop_host "$state"' EXIT
    mkdir -p "$state/etc-stratus" "$state/agent" "$state/ssh" "$state/dbus" \
        "$state/libvirt/etc" "$state/libvirt/lib" "$state/libvirt/cache" \
        "$state/libvirt/log" "$state/libvirt/run"
    chmod 700 "$state/ssh"
    # Mount points on the machine (empty directories; the contents stay private).
    mkdir -p /etc/stratus /etc/pki /var/lib/stratus-agent /run/sshd /run/libvirt /run/dbus \
        /var/lib/libvirt /var/cache/libvirt /var/log/libvirt

    # libvirt's configuration: the machine's, without its domains, networks or secrets.
    cp -a /etc/libvirt/*.conf "$state/libvirt/etc/"
    [ -d /etc/libvirt/nwfilter ] && cp -a /etc/libvirt/nwfilter "$state/libvirt/etc/"
    printf '\n# simhost.sh: logs in this host'"'"'s own /var/log/libvirt\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n' \
        >>"$state/libvirt/etc/libvirtd.conf"
    printf '\n# simhost.sh: logs in this host'"'"'s own /var/log/libvirt\nlog_outputs = "3:file:/var/log/libvirt/virtlogd.log"\n' \
        >>"$state/libvirt/etc/virtlogd.conf"
    # libvirt would chown the files a guest uses to its qemu user and not give back the
    # read-only ones (an ISO under /usr/lib stays libvirt-qemu's): the machine's files are
    # not this host's to relabel. (Guest disks and ISOs are NFS network disks anyway.)
    printf '\n# simhost.sh: leave file ownership alone (files are shared with the machine)\ndynamic_ownership = 0\n' \
        >>"$state/libvirt/etc/qemu.conf"
    # Live migration (issue 16): libvirtd listens for TLS (16514) with the certificates
    # addHost writes at libvirt's default paths under /etc/pki (this host's own, a bind
    # mount) and reloads with virt-admin; until then a placeholder pair lets it start.
    # Every host gets its own host UUID: all simulated hosts share this machine's SMBIOS
    # UUID, and libvirt refuses to migrate between two hosts with the same one.
    pki="$state/pki"
    mkdir -p "$pki/CA" "$pki/libvirt/private"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=placeholder CA $name" -keyout "$state/cakey.pem" -out "$pki/CA/cacert.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=placeholder $name" \
        -keyout "$pki/libvirt/private/serverkey.pem" -out "$state/server.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' >"$state/ext"
    openssl x509 -req -in "$state/server.csr" -CA "$pki/CA/cacert.pem" -CAkey "$state/cakey.pem" \
        -CAcreateserial -CAserial "$state/ca.srl" -days 2 -extfile "$state/ext" \
        -out "$pki/libvirt/servercert.pem" 2>/dev/null
    rm -f "$state/cakey.pem" "$state/server.csr" "$state/ext" "$state/ca.srl"
    cat >>"$state/libvirt/etc/libvirtd.conf" <<CONF

# simhost.sh: TLS listener with the cloud's certificates (live migration)
listen_tls = 1
listen_tcp = 0
tls_allowed_dn_list = ["CN=stratus-libvirt *"]
host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
CONF
    # The host's own name resolves locally (libvirt's hostname lookup asks the resolver).
    { cat /etc/hosts; echo "$host_ip $name"; } >"$state/hosts"

    # root's password on this host only: a copy of /etc/shadow with the root line replaced.
    hash=$(openssl passwd -6 "$password")
    awk -v h="$hash" -F: 'BEGIN{OFS=":"} $1=="root"{$2=h} {print}' /etc/shadow >"$state/shadow"
    chmod 640 "$state/shadow"

    ssh-keygen -q -t ed25519 -N '' -f "$state/ssh/host_key" <<<y >/dev/null
    cat >"$state/ssh/sshd_config" <<CONF
Port 22
ListenAddress $host_ip
HostKey $state/ssh/host_key
PidFile $state/ssh/sshd.pid
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CONF

    if [ -d "$CAPS_SEED" ]; then
        (flock 9 && cp -a "$CAPS_SEED" "$state/libvirt/cache/") 9>"$CAPS_SEED.lock"
    fi

    ip netns add "$ns"
    tb_attach "$ns" "$veth_root" "$veth_host" "$host_ip"
    # Inside, the host's NIC is `eth0` on every simulated host, as a zone's traffic label
    # names one interface for all its hosts (Advanced zones' VXLAN rides it: issue 15).
    ip netns exec "$ns" ip link set "$veth_host" down
    ip netns exec "$ns" ip link set "$veth_host" name eth0
    ip netns exec "$ns" ip link set eth0 up
    ip netns exec "$ns" ip route replace default via "$TB_GATEWAY"

    # One launcher in the namespace: a private mount and UTS namespace with the host's own
    # directories, virtlogd and libvirtd (each daemonises and writes its pid file once
    # its sockets listen), then sshd in their place.
    ip netns exec "$ns" unshare --mount --uts --propagation private sh -c "
        set -e
        hostname '$name'
        mount --bind '$state/etc-stratus' /etc/stratus
        mount --bind '$state/pki' /etc/pki
        mount --bind '$state/agent' /var/lib/stratus-agent
        mount --bind '$state/shadow' /etc/shadow
        mount --bind '$state/hosts' /etc/hosts
        mount --bind '$state/dbus' /run/dbus
        mount --bind '$state/libvirt/etc' /etc/libvirt
        mount --bind '$state/libvirt/lib' /var/lib/libvirt
        mount --bind '$state/libvirt/cache' /var/cache/libvirt
        mount --bind '$state/libvirt/log' /var/log/libvirt
        mount --bind '$state/libvirt/run' /run/libvirt
        virtlogd -d -p '$state/virtlogd.pid'
        libvirtd -d -l -p '$state/libvirtd.pid'
        exec /usr/sbin/sshd -D -e -f '$state/ssh/sshd_config'" >"$state/launcher.log" 2>&1 &
    echo $! >"$state/sshd.launcher.pid"

    # Ready when sshd answers and libvirtd serves qemu:///system (its first answer waits
    # for the drivers to start and QEMU's capabilities to be probed).
    for _ in $(seq 1 300); do
        if ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$host_ip/22" 2>/dev/null &&
            pid=$(host_pid "$state" 2>/dev/null) &&
            nsenter -t "$pid" -m -n -u -- virsh -q -c qemu:///system version >/dev/null 2>&1; then
            if [ -n "$(ls "$state/libvirt/cache/qemu/capabilities" 2>/dev/null)" ]; then
                mkdir -p "$(dirname "$CAPS_SEED")"
                (
                    flock 9
                    rm -rf "$CAPS_SEED.new"
                    cp -a "$state/libvirt/cache/qemu" "$CAPS_SEED.new"
                    rm -rf "$CAPS_SEED"
                    mv "$CAPS_SEED.new" "$CAPS_SEED"
                ) 9>"$CAPS_SEED.lock"
            fi
            trap - EXIT
            exit 0
        fi
        alive "$(cat "$state/sshd.launcher.pid")" || break
        sleep 0.1
    done
    echo "simulated host $name did not start; launcher log:" >&2
    cat "$state/launcher.log" >&2
    cat "$state/libvirt/log/libvirtd.log" >&2 2>/dev/null || true
    exit 1
    ;;
down)
    state=${3:?state directory}/$name
    stop_host "$state"
    rm -rf "$state"
    ;;
exec)
    state=${3:?state directory}/$name
    shift 3
    pid=$(host_pid "$state")
    exec nsenter -t "$pid" -m -n -u --wd="$PWD" -- "$@"
    ;;
*)
    echo "usage: simhost.sh up NAME INDEX PASSWORD STATE_DIR | down NAME STATE_DIR | exec NAME STATE_DIR CMD..." >&2
    exit 2
    ;;
esac
