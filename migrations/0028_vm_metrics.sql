-- Per-VM samples from the agents' heartbeats, for listVirtualMachines' usage fields and
-- the console's charts (retention: vm.stats.max.retention.time, in minutes, as
-- CloudStack). Counters are the domain's totals since its QEMU started; the CPU share
-- is the agent's measurement since its previous sample (NULL on a domain's first).
CREATE TABLE vm_metrics (
    vm_id       uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    host_id     uuid NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    cpu_used_percent double precision,
    memory_bytes bigint NOT NULL,
    memory_unused_bytes bigint,
    disk_read_bytes bigint NOT NULL,
    disk_write_bytes bigint NOT NULL,
    disk_read_ops bigint NOT NULL,
    disk_write_ops bigint NOT NULL,
    network_rx_bytes bigint NOT NULL,
    network_tx_bytes bigint NOT NULL,
    PRIMARY KEY (vm_id, at)
);
CREATE INDEX vm_metrics_at_idx ON vm_metrics (at);

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('vm.stats.max.retention.time', 'Advanced', 'The maximum time (in minutes) for keeping VM stats records in the database (Stratus: at least 1)', '720', 'Integer', '{}', true, 'VM stats max retention time')
ON CONFLICT (name) DO NOTHING;
