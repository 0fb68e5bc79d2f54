#!/usr/bin/env bash
# A simulated KVM host for the end-to-end tests: a network namespace joined to the
# management side by a veth pair, running its own sshd in a private mount namespace.
#
#   simhost.sh up NAME INDEX PASSWORD STATE_DIR   # host at 10.231.INDEX.2, management side 10.231.INDEX.1
#   simhost.sh down NAME STATE_DIR                # stops what `up` started, by PID, and removes it
#
# Inside the host's mount namespace /etc/stratus, /var/lib/stratus-agent and /etc/shadow
# are the host's own (bind mounts of files under STATE_DIR/NAME), so several simulated
# hosts can share this machine's filesystem, and root's password there is the test's,
# never the machine's. Needs root, iproute2, util-linux, openssh-server, openssl.
set -euo pipefail

cmd=${1:?usage: simhost.sh up|down ...}
name=${2:?host name}
ns="stratus-$name"

case "$cmd" in
up)
    index=${3:?index 1-250}
    password=${4:?root password for the simulated host}
    state=${5:?state directory}/$name
    mgmt_ip="10.231.$index.1"
    host_ip="10.231.$index.2"
    mkdir -p "$state/etc-stratus" "$state/agent" "$state/ssh" /etc/stratus /var/lib/stratus-agent /run/sshd
    chmod 700 "$state/ssh"

    ip netns add "$ns"
    ip link add "sv-$name-m" type veth peer name "sv-$name-h"
    ip link set "sv-$name-h" netns "$ns"
    ip addr add "$mgmt_ip/24" dev "sv-$name-m"
    ip link set "sv-$name-m" up
    ip netns exec "$ns" ip addr add "$host_ip/24" dev "sv-$name-h"
    ip netns exec "$ns" ip link set "sv-$name-h" up
    ip netns exec "$ns" ip link set lo up

    # root's password on this host only: a copy of /etc/shadow with the root line replaced.
    hash=$(openssl passwd -6 "$password")
    awk -v h="$hash" -F: 'BEGIN{OFS=":"} $1=="root"{$2=h} {print}' /etc/shadow > "$state/shadow"
    chmod 640 "$state/shadow"

    ssh-keygen -q -t ed25519 -N '' -f "$state/ssh/host_key" <<<y >/dev/null
    cat > "$state/ssh/sshd_config" <<CONF
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
    # sshd in the namespace, in a private mount namespace with the host's own directories.
    ip netns exec "$ns" unshare --mount --propagation private sh -c "
        mount --bind '$state/etc-stratus' /etc/stratus &&
        mount --bind '$state/agent' /var/lib/stratus-agent &&
        mount --bind '$state/shadow' /etc/shadow &&
        exec /usr/sbin/sshd -D -e -f '$state/ssh/sshd_config'" >"$state/sshd.log" 2>&1 &
    echo $! > "$state/sshd.launcher.pid"
    for _ in $(seq 1 50); do
        ip netns exec "$ns" bash -c "exec 3<>/dev/tcp/$host_ip/22" 2>/dev/null && exit 0
        sleep 0.1
    done
    echo "sshd in $ns did not start; log:" >&2
    cat "$state/sshd.log" >&2
    exit 1
    ;;
down)
    state=${3:?state directory}/$name
    for pidfile in "$state/agent/agent.pid" "$state/sshd.launcher.pid" "$state/ssh/sshd.pid"; do
        pid=$(cat "$pidfile" 2>/dev/null) || continue
        kill "$pid" 2>/dev/null || true
    done
    sleep 0.2
    # Anything still running in the namespace (session children) is ours: stop it by PID.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    ip link del "sv-$name-m" 2>/dev/null || true
    rm -rf "$state"
    ;;
*)
    echo "usage: simhost.sh up NAME INDEX PASSWORD STATE_DIR | down NAME STATE_DIR" >&2
    exit 2
    ;;
esac
