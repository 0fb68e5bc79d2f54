# Sourced by the test-bed scripts (simhost.sh, nfs-server.sh): the shared test-bed bridge.
#
# Every simulated machine (a KVM host, the NFS server) is a network namespace whose veth
# peer is a port of one bridge in the root namespace, `stratus-tb`, holding 10.231.0.1/16.
# So the management server (root namespace) reaches every machine, and the machines reach
# each other at layer 2 (a host's qemu reads ISOs from the NFS server's namespace) without
# IP forwarding in the root namespace. Addresses: machine N is 10.231.N.2/16.
#
# Creating and removing the bridge is serialised with flock, so tests may start and stop
# machines concurrently; the bridge goes away with its last port.
#
# Nothing addressed to a simulated machine may leave this machine, even after the machine
# (or the bridge) is gone and a management server still tries to reach it: the first
# attach installs a blackhole route for 10.231.0.0/16 with a low priority (metric 4000).
# While the bridge exists its connected route wins; without it, packets are dropped here
# instead of following the default route. The route is left in place on purpose (it only
# covers the test bed's private range); `ip route del blackhole 10.231.0.0/16 metric 4000`
# removes it.

TB_BRIDGE=stratus-tb
TB_GATEWAY=10.231.0.1
TB_PREFIX=16
TB_LOCK=/run/stratus-testbed.lock
TB_RANGE=10.231.0.0/16

# tb_attach NS VETH_ROOT VETH_NS ADDRESS: a veth pair from the bridge into namespace NS,
# the namespace side named VETH_NS with ADDRESS/16, default route via the bridge.
tb_attach() {
    local ns=$1 root_side=$2 ns_side=$3 address=$4
    (
        flock 9
        ip route replace blackhole "$TB_RANGE" metric 4000
        if ! ip link show "$TB_BRIDGE" >/dev/null 2>&1; then
            ip link add "$TB_BRIDGE" type bridge
            ip addr add "$TB_GATEWAY/$TB_PREFIX" dev "$TB_BRIDGE"
            ip link set "$TB_BRIDGE" up
        fi
        ip link add "$root_side" type veth peer name "$ns_side"
        ip link set "$ns_side" netns "$ns"
        ip link set "$root_side" master "$TB_BRIDGE"
        ip link set "$root_side" up
    ) 9>"$TB_LOCK"
    ip netns exec "$ns" ip addr add "$address/$TB_PREFIX" dev "$ns_side"
    ip netns exec "$ns" ip link set "$ns_side" up
    ip netns exec "$ns" ip link set lo up
    ip netns exec "$ns" ip route add default via "$TB_GATEWAY"
}

# tb_detach VETH_ROOT: removes the pair (if still there) and the bridge once it has no port.
tb_detach() {
    local root_side=$1
    (
        flock 9
        ip link del "$root_side" 2>/dev/null || true
        if ip link show "$TB_BRIDGE" >/dev/null 2>&1 &&
            [ -z "$(ls /sys/class/net/$TB_BRIDGE/brif 2>/dev/null)" ]; then
            ip link del "$TB_BRIDGE" 2>/dev/null || true
        fi
    ) 9>"$TB_LOCK"
}
