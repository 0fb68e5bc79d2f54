-- KVM hosts, their metric series, and alerts.

CREATE TABLE hosts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    pod_id      uuid NOT NULL REFERENCES pods(id) ON DELETE RESTRICT,
    cluster_id  uuid NOT NULL REFERENCES clusters(id) ON DELETE RESTRICT,
    address     inet NOT NULL,
    -- Host state from heartbeats; resource state from the admin (CloudStack's two axes).
    status      text NOT NULL DEFAULT 'Connecting'
                CHECK (status IN ('Creating', 'Connecting', 'Up', 'Disconnected', 'Alert', 'Down', 'Removed', 'Error')),
    resource_state text NOT NULL DEFAULT 'Enabled'
                CHECK (resource_state IN ('Creating', 'Enabled', 'Disabled', 'PrepareForMaintenance',
                       'ErrorInPrepareForMaintenance', 'Maintenance', 'ErrorInMaintenance')),
    -- SHA-256 of the host's agent token; the token itself is never stored.
    token_hash  bytea NOT NULL,
    hypervisor  text NOT NULL DEFAULT 'KVM',
    hypervisor_version text,
    libvirt_version text,
    agent_version text,
    os          text,
    kernel      text,
    arch        text,
    acceleration text CHECK (acceleration IN ('kvm', 'qemu')),
    cpu_sockets int,
    cpu_cores   int,
    cpu_mhz     int,
    memory_bytes bigint,
    cpu_used_percent double precision,
    memory_used_bytes bigint,
    network_rx_bytes bigint,
    network_tx_bytes bigint,
    -- The newest report applied; older ones are ignored.
    report_generation bigint NOT NULL DEFAULT 0,
    last_pinged timestamptz,
    status_changed timestamptz NOT NULL DEFAULT now(),
    management_server_id uuid REFERENCES management_servers(id) ON DELETE SET NULL,
    -- deleteHost asked the agent to remove itself; its next heartbeat is told so.
    decommission boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now(),
    -- Re-adding the same host is refused.
    CONSTRAINT hosts_address_key UNIQUE (address)
);
CREATE INDEX hosts_cluster_idx ON hosts (cluster_id);
CREATE INDEX hosts_created_idx ON hosts (created, id);
CREATE INDEX hosts_status_idx ON hosts (status, last_pinged);

-- Retained samples for the console's charts (retention: host.metrics.retention.hours).
CREATE TABLE host_metrics (
    host_id     uuid NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    cpu_used_percent double precision NOT NULL,
    memory_used_bytes bigint NOT NULL,
    network_rx_bytes bigint NOT NULL,
    network_tx_bytes bigint NOT NULL,
    PRIMARY KEY (host_id, at)
);
CREATE INDEX host_metrics_at_idx ON host_metrics (at);

-- CloudStack's alerts (listAlerts): type codes from AlertManager (7 = host).
CREATE TABLE alerts (
    id          uuid PRIMARY KEY,
    alert_type  smallint NOT NULL,
    name        text NOT NULL,
    description text NOT NULL,
    zone_id     uuid,
    pod_id      uuid,
    cluster_id  uuid,
    host_id     uuid,
    archived    boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_created_idx ON alerts (created DESC, id);

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('host.metrics.retention.hours', 'Advanced', 'Hours of host metric samples kept for the console''s charts', '24', 'Integer', '{}', true, 'Host metrics retention'),
('host.probe.port', 'Advanced', 'TCP port probed on a host that stopped sending heartbeats: if it answers the host is alive but its agent is not (Alert), else the host is Down', '22', 'Integer', '{}', true, 'Host probe port');

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('host', 'Advanced', 'The address of the management server that agents report to (blank: the address the API listens on)', '', 'String', '{}', true, 'Management server address'),
('kvm.libvirt.uri', 'Advanced', 'The libvirt URI agents of new hosts use (test:///default simulates a host without libvirtd)', 'qemu:///system', 'String', '{}', true, 'Libvirt URI'),
('kvm.acceleration', 'Advanced', 'Guest acceleration of new hosts: auto (KVM when /dev/kvm works, else TCG), kvm, or qemu (TCG)', 'auto', 'String', '{}', true, 'Acceleration'),
('kvm.agent.start.timeout', 'Advanced', 'Seconds addHost waits for a new host''s agent to report', '60', 'Integer', '{}', true, 'Agent start timeout');
