-- Instances (VMs), their NICs and volumes. Capacity is reserved on a host by the VM row
-- itself (host_id + cpu/memory while Starting, Running or Stopping); guest addresses by
-- the NIC rows, whose unique constraints make a double allocation impossible.

CREATE TABLE vms (
    id          uuid PRIMARY KEY,
    -- CloudStack's instance names: i-<account number>-<this>-VM.
    instance_number bigserial NOT NULL UNIQUE,
    name        text NOT NULL,
    display_name text NOT NULL,
    account_id  uuid NOT NULL REFERENCES accounts(id),
    domain_id   uuid NOT NULL REFERENCES domains(id),
    user_id     uuid NOT NULL REFERENCES users(id),
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    service_offering_id uuid NOT NULL REFERENCES service_offerings(id),
    disk_offering_id uuid REFERENCES disk_offerings(id),
    iso_id      uuid REFERENCES isos(id),
    state       text NOT NULL DEFAULT 'Stopped'
                CHECK (state IN ('Stopped', 'Starting', 'Running', 'Stopping', 'Destroyed', 'Expunging', 'Expunged', 'Error')),
    -- Where it runs (or last ran); while Starting/Running/Stopping its capacity is reserved there.
    host_id     uuid REFERENCES hosts(id) ON DELETE SET NULL,
    last_host_id uuid REFERENCES hosts(id) ON DELETE SET NULL,
    cpu_number  int NOT NULL,
    cpu_mhz     int NOT NULL,
    memory_mb   int NOT NULL,
    error_text  text,
    created     timestamptz NOT NULL DEFAULT now(),
    destroyed   timestamptz,
    removed     timestamptz
);
CREATE INDEX vms_host_idx ON vms (host_id) WHERE state IN ('Starting', 'Running', 'Stopping');
CREATE INDEX vms_created_idx ON vms (created, id) WHERE removed IS NULL;
CREATE UNIQUE INDEX vms_name_account_key ON vms (account_id, name) WHERE removed IS NULL;

CREATE TABLE nics (
    id          uuid PRIMARY KEY,
    vm_id       uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    network_id  uuid NOT NULL REFERENCES networks(id) ON DELETE RESTRICT,
    ip_address  inet NOT NULL,
    mac_address macaddr NOT NULL,
    is_default  boolean NOT NULL DEFAULT true,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT nics_ip_key UNIQUE (network_id, ip_address),
    CONSTRAINT nics_mac_key UNIQUE (mac_address)
);
CREATE INDEX nics_vm_idx ON nics (vm_id);

CREATE TABLE volumes (
    id          uuid PRIMARY KEY,
    vm_id       uuid REFERENCES vms(id) ON DELETE SET NULL,
    name        text NOT NULL,
    volume_type text NOT NULL DEFAULT 'ROOT' CHECK (volume_type IN ('ROOT', 'DATADISK')),
    pool_id     uuid NOT NULL REFERENCES storage_pools(id) ON DELETE RESTRICT,
    -- Relative to the pool's export.
    path        text NOT NULL,
    size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
    state       text NOT NULL DEFAULT 'Allocated'
                CHECK (state IN ('Allocated', 'Ready', 'Destroy', 'Expunged')),
    created     timestamptz NOT NULL DEFAULT now(),
    removed     timestamptz
);
CREATE INDEX volumes_pool_idx ON volumes (pool_id) WHERE removed IS NULL;
