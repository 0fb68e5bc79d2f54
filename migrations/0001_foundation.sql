-- Stratus foundation schema: identity, topology, IP ranges, configuration, jobs, events.
-- The database refuses what must never happen: overlapping IP ranges in a zone,
-- duplicate names where CloudStack refuses them, and dangling references.

CREATE EXTENSION IF NOT EXISTS btree_gist;

-- An inclusive range of addresses, so overlap can be an exclusion constraint.
CREATE TYPE inetrange AS RANGE (subtype = inet);

CREATE TABLE management_servers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    version     text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE domains (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    parent_id   uuid REFERENCES domains(id) ON DELETE RESTRICT,
    path        text NOT NULL UNIQUE,
    level       int NOT NULL,
    network_domain text,
    state       text NOT NULL DEFAULT 'Active',
    created     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    role_type   text NOT NULL CHECK (role_type IN ('Admin', 'ResourceAdmin', 'DomainAdmin', 'User')),
    description text NOT NULL DEFAULT '',
    is_default  boolean NOT NULL DEFAULT false,
    state       text NOT NULL DEFAULT 'ENABLED'
);

CREATE TABLE accounts (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    account_type int NOT NULL CHECK (account_type IN (0, 1, 2, 3, 4)),
    role_id     uuid NOT NULL REFERENCES roles(id) ON DELETE RESTRICT,
    state       text NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled', 'locked')),
    network_domain text,
    is_default  boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT accounts_name_domain_key UNIQUE (domain_id, name)
);

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    username    text NOT NULL,
    -- Usernames are unique within a domain, as in CloudStack.
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    password_hash text NOT NULL,
    firstname   text NOT NULL DEFAULT '',
    lastname    text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    timezone    text,
    state       text NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled', 'locked')),
    api_key     text UNIQUE,
    secret_key  text,
    is_default  boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_domain_key UNIQUE (domain_id, username),
    CONSTRAINT users_keys_pair CHECK ((api_key IS NULL) = (secret_key IS NULL))
);

CREATE TABLE sessions (
    id          text PRIMARY KEY,          -- the JSESSIONID cookie
    session_key text NOT NULL,             -- must accompany every call (CSRF token)
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created     timestamptz NOT NULL DEFAULT now(),
    last_used   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE zones (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text,
    network_type text NOT NULL CHECK (network_type IN ('Basic', 'Advanced')),
    dns1        inet NOT NULL,
    dns2        inet,
    ip6dns1     inet,
    ip6dns2     inet,
    internal_dns1 inet NOT NULL,
    internal_dns2 inet,
    guest_cidr  cidr,
    network_domain text,
    domain_id   uuid REFERENCES domains(id) ON DELETE RESTRICT,
    security_groups_enabled boolean NOT NULL DEFAULT false,
    local_storage_enabled boolean NOT NULL DEFAULT false,
    allocation_state text NOT NULL DEFAULT 'Enabled' CHECK (allocation_state IN ('Enabled', 'Disabled')),
    dhcp_provider text NOT NULL DEFAULT 'DhcpServer',
    zone_token  uuid NOT NULL,
    is_edge     boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT zones_name_key UNIQUE (name)
);
CREATE INDEX zones_created_idx ON zones (created, id);

CREATE TABLE pods (
    id          uuid PRIMARY KEY,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    name        text NOT NULL,
    gateway     inet,
    netmask     inet,
    allocation_state text NOT NULL DEFAULT 'Enabled' CHECK (allocation_state IN ('Enabled', 'Disabled')),
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pods_name_zone_key UNIQUE (zone_id, name)
);
CREATE INDEX pods_created_idx ON pods (created, id);

-- Every address range of a zone: pod management ranges and guest/public VLAN ranges.
-- One table so one exclusion constraint keeps all of a zone's ranges disjoint.
CREATE TABLE ip_ranges (
    id          uuid PRIMARY KEY,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    pod_id      uuid REFERENCES pods(id) ON DELETE RESTRICT,
    purpose     text NOT NULL CHECK (purpose IN ('management', 'guest')),
    vlan        text NOT NULL DEFAULT 'untagged',
    gateway     inet NOT NULL,
    netmask     inet NOT NULL,
    start_ip    inet NOT NULL,
    end_ip      inet NOT NULL,
    for_virtual_network boolean NOT NULL DEFAULT false,
    for_system_vms boolean NOT NULL DEFAULT false,
    network_id  uuid,
    physical_network_id uuid,
    account_id  uuid REFERENCES accounts(id) ON DELETE RESTRICT,
    description text,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ip_ranges_order CHECK (start_ip <= end_ip),
    CONSTRAINT ip_ranges_family CHECK (family(start_ip) = family(end_ip) AND family(gateway) = family(start_ip)),
    CONSTRAINT ip_ranges_management_has_pod CHECK (purpose <> 'management' OR pod_id IS NOT NULL),
    CONSTRAINT ip_ranges_no_overlap EXCLUDE USING gist (zone_id WITH =, inetrange(start_ip, end_ip, '[]') WITH &&)
);
CREATE INDEX ip_ranges_pod_idx ON ip_ranges (pod_id);

CREATE TABLE clusters (
    id          uuid PRIMARY KEY,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    pod_id      uuid NOT NULL REFERENCES pods(id) ON DELETE RESTRICT,
    name        text NOT NULL,
    hypervisor  text NOT NULL CHECK (hypervisor IN ('KVM')),
    cluster_type text NOT NULL DEFAULT 'CloudManaged' CHECK (cluster_type IN ('CloudManaged', 'ExternalManaged')),
    allocation_state text NOT NULL DEFAULT 'Enabled' CHECK (allocation_state IN ('Enabled', 'Disabled')),
    managed_state text NOT NULL DEFAULT 'Managed' CHECK (managed_state IN ('Managed', 'PrepareUnmanaged', 'Unmanaged', 'PrepareUnmanagedError')),
    arch        text NOT NULL DEFAULT 'x86_64' CHECK (arch IN ('x86_64', 'aarch64')),
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clusters_name_pod_key UNIQUE (pod_id, name)
);
CREATE INDEX clusters_created_idx ON clusters (created, id);
CREATE INDEX clusters_zone_idx ON clusters (zone_id);

-- Global settings; `value` NULL means "the default". Scoped overrides in configuration_scoped.
CREATE TABLE configuration (
    name        text PRIMARY KEY,
    category    text NOT NULL,
    component   text NOT NULL DEFAULT 'management-server',
    description text NOT NULL,
    default_value text,
    value       text,
    value_type  text NOT NULL CHECK (value_type IN ('String', 'Integer', 'Long', 'Float', 'Boolean')),
    scopes      text[] NOT NULL DEFAULT '{}',
    is_dynamic  boolean NOT NULL DEFAULT true,
    display_text text NOT NULL DEFAULT '',
    updated     timestamptz
);

CREATE TABLE configuration_scoped (
    name        text NOT NULL REFERENCES configuration(name) ON DELETE CASCADE,
    scope       text NOT NULL CHECK (scope IN ('zone', 'cluster', 'account', 'domain')),
    scope_id    uuid NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (name, scope, scope_id)
);

-- Async jobs. status: 0 pending, 1 succeeded, 2 failed, 3 cancelled. A pending job is
-- claimed by a management server with FOR UPDATE SKIP LOCKED and held under a lease;
-- when the lease lapses (its owner died) another server takes it over.
CREATE TABLE async_jobs (
    id          uuid PRIMARY KEY,
    command     text NOT NULL,
    cmd_class   text NOT NULL,
    params      jsonb NOT NULL DEFAULT '{}',
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE RESTRICT,
    instance_type text,
    instance_id uuid,
    status      int NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2, 3)),
    proc_status int NOT NULL DEFAULT 0,
    result_code int NOT NULL DEFAULT 0,
    result_type text NOT NULL DEFAULT 'object',
    result      jsonb,
    owner_ms    uuid REFERENCES management_servers(id) ON DELETE SET NULL,
    lease_until timestamptz,
    attempts    int NOT NULL DEFAULT 0,
    created     timestamptz NOT NULL DEFAULT now(),
    completed   timestamptz,
    CONSTRAINT async_jobs_done_has_time CHECK ((status = 0) = (completed IS NULL))
);
CREATE INDEX async_jobs_pending_idx ON async_jobs (created) WHERE status = 0;
CREATE INDEX async_jobs_account_idx ON async_jobs (account_id, created DESC);

CREATE TABLE events (
    id          uuid PRIMARY KEY,
    event_type  text NOT NULL,
    level       text NOT NULL CHECK (level IN ('INFO', 'WARN', 'ERROR')),
    state       text NOT NULL DEFAULT 'Completed' CHECK (state IN ('Created', 'Scheduled', 'Started', 'Completed')),
    description text NOT NULL,
    user_id     uuid REFERENCES users(id) ON DELETE SET NULL,
    account_id  uuid REFERENCES accounts(id) ON DELETE SET NULL,
    domain_id   uuid REFERENCES domains(id) ON DELETE SET NULL,
    resource_id uuid,
    resource_type text,
    resource_name text,
    parent_id   uuid,
    created     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_created_idx ON events (created DESC, id);
CREATE INDEX events_account_idx ON events (account_id, created DESC);

-- Seed: the ROOT domain, CloudStack's four default roles, the system and admin accounts.
INSERT INTO domains (id, name, parent_id, path, level) VALUES
    ('00000000-0000-4000-8000-000000000001', 'ROOT', NULL, 'ROOT', 0);

INSERT INTO roles (id, name, role_type, description, is_default) VALUES
    ('00000000-0000-4000-8000-000000000011', 'Root Admin', 'Admin', 'Default root admin role', true),
    ('00000000-0000-4000-8000-000000000012', 'Resource Admin', 'ResourceAdmin', 'Default resource admin role', true),
    ('00000000-0000-4000-8000-000000000013', 'Domain Admin', 'DomainAdmin', 'Default domain admin role', true),
    ('00000000-0000-4000-8000-000000000014', 'User', 'User', 'Default user role', true);

INSERT INTO accounts (id, name, domain_id, account_type, role_id, is_default) VALUES
    ('00000000-0000-4000-8000-000000000021', 'system', '00000000-0000-4000-8000-000000000001', 1, '00000000-0000-4000-8000-000000000011', true),
    ('00000000-0000-4000-8000-000000000022', 'admin', '00000000-0000-4000-8000-000000000001', 1, '00000000-0000-4000-8000-000000000011', true);

-- The SYSTEM user owns background work; '!' is no valid password hash, so it cannot log in.
INSERT INTO users (id, account_id, username, domain_id, password_hash, firstname, lastname, is_default) VALUES
    ('00000000-0000-4000-8000-000000000031', '00000000-0000-4000-8000-000000000021', 'system',
     '00000000-0000-4000-8000-000000000001', '!', 'system', 'cloud', true);
