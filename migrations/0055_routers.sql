-- Issue 15: the routers of isolated networks. CloudStack runs a router VM per network;
-- Stratus runs a network namespace on a host (agent::router). The row is what listRouters
-- answers and what failover moves: the host it runs on, its state, and the MACs of its
-- two legs (kept, so a router recreated elsewhere keeps its addresses' MACs and the
-- guests' ARP caches stay right).
CREATE TABLE routers (
    id          uuid PRIMARY KEY,
    network_id  uuid NOT NULL UNIQUE REFERENCES networks(id),
    zone_id     uuid NOT NULL REFERENCES zones(id),
    host_id     uuid REFERENCES hosts(id),
    -- The agent's name (r-<8 hex of the id>): at most 13 characters, see api::router.
    name        text NOT NULL UNIQUE,
    state       text NOT NULL CHECK (state IN ('Starting', 'Running', 'Stopping', 'Stopped')),
    guest_mac   macaddr NOT NULL UNIQUE,
    public_mac  macaddr NOT NULL UNIQUE,
    -- Why it is not Running, when it failed.
    error_text  text,
    created     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routers_host_idx ON routers (host_id) WHERE host_id IS NOT NULL;

-- Implementing a network (its VXLAN/VLAN id, its source NAT address, its router) is the
-- NetworkImplement workflow. The kinds are 0050's list plus NetworkImplement.
ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'VmRestore',
                    'TemplateCreate', 'HostAdd',
                    'SnapshotCreate', 'SnapshotRevert', 'SnapshotRestore', 'SnapshotDelete',
                    'VmSnapshotCreate', 'VmSnapshotRevert', 'VmSnapshotDelete',
                    'VmMigrate', 'NetworkImplement'));
