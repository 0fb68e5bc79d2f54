-- Storage: NFS primary pools (VM volumes), NFS image stores (secondary storage: ISOs),
-- OS categories and types, and the ISO registry with per-zone downloads.

CREATE TABLE storage_pools (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    pod_id      uuid REFERENCES pods(id) ON DELETE RESTRICT,
    cluster_id  uuid REFERENCES clusters(id) ON DELETE RESTRICT,
    scope       text NOT NULL CHECK (scope IN ('CLUSTER', 'ZONE')),
    url         text NOT NULL,
    server      text NOT NULL,
    path        text NOT NULL,
    tags        text[] NOT NULL DEFAULT '{}',
    -- Up, Disabled (no new volumes), PrepareForMaintenance/Maintenance, ErrorInMaintenance.
    state       text NOT NULL DEFAULT 'Up'
                CHECK (state IN ('Up', 'Disabled', 'PrepareForMaintenance', 'Maintenance', 'ErrorInMaintenance')),
    capacity_bytes bigint NOT NULL DEFAULT 0,
    used_bytes  bigint NOT NULL DEFAULT 0,
    -- The last FSSTAT: when, and why it failed (shown to admins).
    stats_at    timestamptz,
    stats_error text,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT storage_pools_scope_ids CHECK (
        (scope = 'CLUSTER' AND pod_id IS NOT NULL AND cluster_id IS NOT NULL) OR
        (scope = 'ZONE' AND cluster_id IS NULL)),
    CONSTRAINT storage_pools_name_zone_key UNIQUE (zone_id, name),
    CONSTRAINT storage_pools_url_key UNIQUE (server, path)
);
CREATE INDEX storage_pools_created_idx ON storage_pools (created, id);

CREATE TABLE image_stores (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    provider    text NOT NULL DEFAULT 'NFS' CHECK (provider = 'NFS'),
    url         text NOT NULL,
    server      text NOT NULL,
    path        text NOT NULL,
    readonly    boolean NOT NULL DEFAULT false,
    capacity_bytes bigint NOT NULL DEFAULT 0,
    used_bytes  bigint NOT NULL DEFAULT 0,
    stats_at    timestamptz,
    stats_error text,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT image_stores_name_key UNIQUE (name),
    CONSTRAINT image_stores_url_key UNIQUE (server, path)
);
CREATE INDEX image_stores_created_idx ON image_stores (created, id);

CREATE TABLE os_categories (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE
);

CREATE TABLE os_types (
    id          uuid PRIMARY KEY,
    category_id uuid NOT NULL REFERENCES os_categories(id),
    description text NOT NULL UNIQUE,
    is_user_defined boolean NOT NULL DEFAULT false
);

-- ISOs (CloudStack keeps them with templates, format ISO).
CREATE TABLE isos (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    display_text text NOT NULL,
    url         text NOT NULL,
    bootable    boolean NOT NULL DEFAULT true,
    os_type_id  uuid NOT NULL REFERENCES os_types(id),
    -- As given: '{md5}hex', '{sha256}hex', ... or a plain hex digest (md5 by length).
    checksum    text,
    is_public   boolean NOT NULL DEFAULT false,
    is_featured boolean NOT NULL DEFAULT false,
    is_extractable boolean NOT NULL DEFAULT false,
    cross_zones boolean NOT NULL DEFAULT false,
    account_id  uuid NOT NULL REFERENCES accounts(id),
    domain_id   uuid NOT NULL REFERENCES domains(id),
    created     timestamptz NOT NULL DEFAULT now(),
    removed     timestamptz
);
CREATE INDEX isos_created_idx ON isos (created, id) WHERE removed IS NULL;

-- One ISO in one zone: its download into that zone's image store.
CREATE TABLE iso_zones (
    iso_id      uuid NOT NULL REFERENCES isos(id) ON DELETE CASCADE,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    image_store_id uuid REFERENCES image_stores(id) ON DELETE RESTRICT,
    -- Queued → Downloading → Ready | Error; Deleting while its files are removed.
    state       text NOT NULL DEFAULT 'Queued'
                CHECK (state IN ('Queued', 'Downloading', 'Ready', 'Error', 'Deleting')),
    bytes_done  bigint NOT NULL DEFAULT 0,
    bytes_total bigint,
    size        bigint,
    -- The digest computed while downloading (lowercase hex of the algorithm asked for, else sha256).
    checksum    text,
    install_path text,
    error_text  text,
    -- A partial file a failed download could not remove (its storage was down); removed
    -- by the downloader once the storage answers again.
    cleanup_path text,
    attempts    int NOT NULL DEFAULT 0,
    -- The management server downloading it, and until when its claim holds.
    owner       uuid,
    lease_until timestamptz,
    updated     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (iso_id, zone_id)
);
CREATE INDEX iso_zones_work_idx ON iso_zones (state, lease_until);

INSERT INTO os_categories (id, name) VALUES
('00000000-0000-4000-8001-000000000001', 'CentOS'),
('00000000-0000-4000-8001-000000000002', 'Debian'),
('00000000-0000-4000-8001-000000000003', 'Oracle'),
('00000000-0000-4000-8001-000000000004', 'RedHat'),
('00000000-0000-4000-8001-000000000005', 'SUSE'),
('00000000-0000-4000-8001-000000000006', 'Windows'),
('00000000-0000-4000-8001-000000000007', 'Other'),
('00000000-0000-4000-8001-000000000008', 'Novel'),
('00000000-0000-4000-8001-000000000009', 'Unix'),
('00000000-0000-4000-8001-000000000010', 'Ubuntu'),
('00000000-0000-4000-8001-000000000011', 'None'),
('00000000-0000-4000-8001-000000000012', 'Rocky Linux'),
('00000000-0000-4000-8001-000000000013', 'AlmaLinux');

INSERT INTO os_types (id, category_id, description) VALUES
('00000000-0000-4000-8002-000000000001', '00000000-0000-4000-8001-000000000007', 'Other (64-bit)'),
('00000000-0000-4000-8002-000000000002', '00000000-0000-4000-8001-000000000007', 'Other (32-bit)'),
('00000000-0000-4000-8002-000000000003', '00000000-0000-4000-8001-000000000007', 'Other PV (64-bit)'),
('00000000-0000-4000-8002-000000000004', '00000000-0000-4000-8001-000000000007', 'Other Linux (64-bit)'),
('00000000-0000-4000-8002-000000000010', '00000000-0000-4000-8001-000000000002', 'Debian GNU/Linux 11 (64-bit)'),
('00000000-0000-4000-8002-000000000011', '00000000-0000-4000-8001-000000000002', 'Debian GNU/Linux 12 (64-bit)'),
('00000000-0000-4000-8002-000000000020', '00000000-0000-4000-8001-000000000010', 'Ubuntu 20.04 LTS'),
('00000000-0000-4000-8002-000000000021', '00000000-0000-4000-8001-000000000010', 'Ubuntu 22.04 LTS'),
('00000000-0000-4000-8002-000000000022', '00000000-0000-4000-8001-000000000010', 'Ubuntu 24.04 LTS'),
('00000000-0000-4000-8002-000000000030', '00000000-0000-4000-8001-000000000001', 'CentOS 7'),
('00000000-0000-4000-8002-000000000031', '00000000-0000-4000-8001-000000000012', 'Rocky Linux 9'),
('00000000-0000-4000-8002-000000000032', '00000000-0000-4000-8001-000000000013', 'AlmaLinux 9'),
('00000000-0000-4000-8002-000000000033', '00000000-0000-4000-8001-000000000004', 'Red Hat Enterprise Linux 9'),
('00000000-0000-4000-8002-000000000034', '00000000-0000-4000-8001-000000000003', 'Oracle Linux 9'),
('00000000-0000-4000-8002-000000000035', '00000000-0000-4000-8001-000000000005', 'SUSE Linux Enterprise Server 15 (64-bit)'),
('00000000-0000-4000-8002-000000000040', '00000000-0000-4000-8001-000000000006', 'Windows Server 2022 (64-bit)'),
('00000000-0000-4000-8002-000000000041', '00000000-0000-4000-8001-000000000006', 'Windows 11 (64-bit)'),
('00000000-0000-4000-8002-000000000050', '00000000-0000-4000-8001-000000000009', 'FreeBSD 14 (64-bit)');

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('iso.download.concurrency', 'Advanced', 'How many ISO downloads each management server runs at a time', '2', 'Integer', '{}', true, 'Concurrent ISO downloads'),
('iso.download.idle.timeout', 'Advanced', 'Seconds without any data after which an ISO download fails', '60', 'Integer', '{}', true, 'ISO download idle timeout'),
('storage.stats.interval', 'Storage', 'Seconds between capacity (FSSTAT) refreshes of primary and secondary storage', '60', 'Integer', '{}', true, 'Storage stats interval');
