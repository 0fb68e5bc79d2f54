#!/usr/bin/env bash
# A simulated NFS server for the tests: nfs-ganesha (userspace NFSv3/v4) in a network
# namespace on the test-bed bridge (see lib.sh), in a private mount namespace.
#
#   nfs-server.sh up NAME INDEX STATE_DIR EXPORT_DIR...   # server at 10.231.INDEX.2
#   nfs-server.sh down NAME STATE_DIR                     # stops it by PID and removes it
#
# Each EXPORT_DIR (absolute; created if missing) is exported read-write, no root squash,
# NFSv3 and v4 over TCP with AUTH_SYS. NFSv3 clients mount the directory's own path:
# nfs://10.231.INDEX.2/EXPORT_DIR. NLM (locking) and RQUOTA are off.
#
# Inside the mount namespace /run and /var/lib/nfs are the server's own (bind mounts of
# STATE_DIR/NAME/run and .../lib): rpcbind's socket and lock file, ganesha's recovery
# directories. So several servers can run at once and none touches the machine's files.
# Needs root, iproute2, util-linux, nfs-ganesha, nfs-ganesha-vfs, rpcbind, nfs-common.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

usage() {
    echo "usage: nfs-server.sh up NAME INDEX STATE_DIR EXPORT_DIR... | down NAME STATE_DIR" >&2
    exit 2
}

cmd=${1:-}
name=${2:-}
[ -n "$name" ] || usage
# The root-side veth is sv-NAME-m; interface names have at most 15 characters.
if [ ${#name} -gt 10 ] || [[ ! $name =~ ^[a-z0-9-]+$ ]]; then
    echo "nfs-server.sh: NAME must be 1-10 characters of a-z, 0-9, '-' (got '$name')" >&2
    exit 2
fi
ns="stratus-$name"
veth_root="sv-$name-m"
veth_ns="sv-$name-h"

# stop STATE: everything `up` started, by PID; then the namespace, the veth and the state.
stop() {
    local state=$1 pid pids=() _
    for f in ganesha.pid launcher.pid rpcbind.pid; do
        pid=$(cat "$state/$f" 2>/dev/null) || continue
        [[ $pid =~ ^[0-9]+$ ]] && pids+=("$pid")
    done
    # Anything else still running in the namespace is ours too.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        # ganesha shuts down cleanly on SIGTERM within a second or two; then SIGKILL.
        for _ in $(seq 1 50); do
            kill -0 "${pids[@]}" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "${pids[@]}" 2>/dev/null || true
    fi
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    tb_detach "$veth_root"
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$state"
}

case "$cmd" in
up)
    index=${3:?index 1-250}
    [[ $index =~ ^[0-9]+$ ]] && [ "$index" -ge 1 ] && [ "$index" -le 250 ] || {
        echo "nfs-server.sh: INDEX must be 1-250 (got '$index')" >&2
        exit 2
    }
    state=${4:?state directory}/$name
    shift 4
    [ $# -gt 0 ] || usage
    address="10.231.$index.2"

    # A crashed run's leftovers of the same name go first.
    if ip netns list | awk '{print $1}' | grep -qx "$ns" || [ -e "$state" ]; then
        stop "$state"
    fi
    mkdir -p "$state/run" "$state/lib" /var/lib/nfs

    conf="$state/ganesha.conf"
    cat > "$conf" <<CONF
# Written by tests/testbed/nfs-server.sh for the simulated NFS server $name ($address).
NFS_CORE_PARAM {
    Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
    MNT_Port = 20048;
}
CONF
    id=0
    for dir in "$@"; do
        case "$dir" in
        /*) ;;
        *) echo "nfs-server.sh: EXPORT_DIR must be absolute (got '$dir')" >&2; exit 2 ;;
        esac
        mkdir -p "$dir"
        id=$((id + 1))
        cat >> "$conf" <<CONF
EXPORT {
    Export_Id = $id;
    Path = "$dir";
    Pseudo = "$dir";
    Access_Type = RW;
    Squash = No_Root_Squash;
    Protocols = 3, 4;
    Transports = TCP;
    SecType = sys;
    FSAL { Name = VFS; }
}
CONF
    done

    ip netns add "$ns"
    tb_attach "$ns" "$veth_root" "$veth_ns" "$address"

    # rpcbind, then ganesha (which registers MOUNT and NFS with it through /run/rpcbind.sock).
    # Each step execs the next, so the PID of this background job is ganesha's.
    ip netns exec "$ns" unshare --mount --propagation private bash -c '
        set -e
        state=$1
        mount --bind "$state/run" /run
        mount --bind "$state/lib" /var/lib/nfs
        rpcbind -f -w &
        echo $! > "$state/rpcbind.pid"
        for _ in $(seq 1 50); do [ -S /run/rpcbind.sock ] && break; sleep 0.1; done
        exec ganesha.nfsd -F -f "$state/ganesha.conf" -p "$state/ganesha.pid" \
            -L "$state/ganesha.log" -N NIV_EVENT' _ "$state" >"$state/launch.log" 2>&1 &
    echo $! > "$state/launcher.pid"

    # Ready when the NFS port answers and the MOUNT service lists every export.
    for _ in $(seq 1 100); do
        if timeout 2 bash -c "exec 3<>/dev/tcp/$address/2049" 2>/dev/null; then
            listed=$(timeout 5 showmount -e "$address" 2>/dev/null || true)
            ok=1
            for dir in "$@"; do grep -q "^$dir " <<<"$listed" || ok=0; done
            [ $ok = 1 ] && exit 0
        fi
        kill -0 "$(cat "$state/launcher.pid")" 2>/dev/null || break
        sleep 0.2
    done
    {
        echo "nfs-server.sh: the NFS server $name ($address) did not come up."
        echo "--- $state/launch.log"; cat "$state/launch.log" 2>/dev/null
        echo "--- $state/ganesha.log"; cat "$state/ganesha.log" 2>/dev/null
    } >&2
    stop "$state"
    exit 1
    ;;
down)
    stop "${3:?state directory}/$name"
    ;;
*)
    usage
    ;;
esac
