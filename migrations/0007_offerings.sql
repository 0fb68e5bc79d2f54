-- Compute (service) and disk offerings, as in CloudStack; seeded with its defaults.

CREATE TABLE service_offerings (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    display_text text NOT NULL,
    cpu_number  int NOT NULL CHECK (cpu_number > 0),
    -- MHz per core: what placement reserves on a host.
    cpu_speed   int NOT NULL CHECK (cpu_speed > 0),
    memory_mb   int NOT NULL CHECK (memory_mb > 0),
    storage_type text NOT NULL DEFAULT 'shared' CHECK (storage_type IN ('shared', 'local')),
    host_tags   text,
    offer_ha    boolean NOT NULL DEFAULT false,
    limit_cpu_use boolean NOT NULL DEFAULT false,
    is_volatile boolean NOT NULL DEFAULT false,
    domain_id   uuid REFERENCES domains(id),
    created     timestamptz NOT NULL DEFAULT now(),
    removed     timestamptz
);
CREATE UNIQUE INDEX service_offerings_name_key ON service_offerings (name) WHERE removed IS NULL;
CREATE INDEX service_offerings_created_idx ON service_offerings (created, id) WHERE removed IS NULL;

CREATE TABLE disk_offerings (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    display_text text NOT NULL,
    -- NULL when the size is chosen at deploy time (customized).
    disk_size_gb bigint CHECK (disk_size_gb IS NULL OR disk_size_gb > 0),
    storage_type text NOT NULL DEFAULT 'shared' CHECK (storage_type IN ('shared', 'local')),
    tags        text,
    domain_id   uuid REFERENCES domains(id),
    created     timestamptz NOT NULL DEFAULT now(),
    removed     timestamptz
);
CREATE UNIQUE INDEX disk_offerings_name_key ON disk_offerings (name) WHERE removed IS NULL;
CREATE INDEX disk_offerings_created_idx ON disk_offerings (created, id) WHERE removed IS NULL;

INSERT INTO service_offerings (id, name, display_text, cpu_number, cpu_speed, memory_mb, created) VALUES
('00000000-0000-4000-8003-000000000001', 'Small Instance', 'Small Instance', 1, 500, 512, '2026-01-01'),
('00000000-0000-4000-8003-000000000002', 'Medium Instance', 'Medium Instance', 1, 1000, 1024, '2026-01-01 00:00:01');

INSERT INTO disk_offerings (id, name, display_text, disk_size_gb, created) VALUES
('00000000-0000-4000-8004-000000000001', 'Small', 'Small Disk, 5 GB', 5, '2026-01-01'),
('00000000-0000-4000-8004-000000000002', 'Medium', 'Medium Disk, 20 GB', 20, '2026-01-01 00:00:01'),
('00000000-0000-4000-8004-000000000003', 'Large', 'Large Disk, 100 GB', 100, '2026-01-01 00:00:02'),
('00000000-0000-4000-8004-000000000004', 'Custom', 'Custom Disk', NULL, '2026-01-01 00:00:03');
