-- Templates (issue 13, item 1): disk images (QCOW2 or RAW) registered by URL, owned by
-- accounts, shared with accounts, downloaded into each zone's image store by the same
-- downloader as ISOs (services/images.rs). CloudStack keeps ISOs and templates in one
-- table (vm_template); here they stay apart (VMs reference ISOs by a foreign key), and
-- the per-zone download rows have the same shape, so one set of statements
-- (db/images.rs) serves both.

CREATE TABLE templates (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (char_length(name) <= 255),
    display_text text NOT NULL CHECK (char_length(display_text) <= 4096),
    url         text NOT NULL CHECK (char_length(url) <= 2048),
    format      text NOT NULL CHECK (format IN ('QCOW2', 'RAW')),
    hypervisor  text NOT NULL DEFAULT 'KVM' CHECK (hypervisor = 'KVM'),
    os_type_id  uuid NOT NULL REFERENCES os_types(id),
    -- As given: '{md5}hex', '{sha256}hex', ... or a plain hex digest (md5 by length).
    checksum    text,
    is_public   boolean NOT NULL DEFAULT false,
    is_featured boolean NOT NULL DEFAULT false,
    is_extractable boolean NOT NULL DEFAULT false,
    password_enabled boolean NOT NULL DEFAULT false,
    sshkey_enabled boolean NOT NULL DEFAULT false,
    requires_hvm boolean NOT NULL DEFAULT true,
    is_dynamically_scalable boolean NOT NULL DEFAULT false,
    bits        int NOT NULL DEFAULT 64,
    template_type text NOT NULL DEFAULT 'USER' CHECK (template_type = 'USER'),
    -- registerTemplate's details[i].key=value, a flat object of strings.
    details     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
    cross_zones boolean NOT NULL DEFAULT false,
    account_id  uuid NOT NULL REFERENCES accounts(id),
    domain_id   uuid NOT NULL REFERENCES domains(id),
    created     timestamptz NOT NULL DEFAULT now(),
    -- deleteTemplate keeps the row (VMs deployed from it still name it).
    removed     timestamptz
);
CREATE INDEX templates_created_idx ON templates (created, id) WHERE removed IS NULL;

-- Launch permissions: accounts a private template is shared with
-- (updateTemplatePermissions op=add/remove/reset).
CREATE TABLE template_permissions (
    template_id uuid NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (template_id, account_id)
);
CREATE INDEX template_permissions_account_idx ON template_permissions (account_id);

-- One template in one zone: its download into that zone's image store. The columns are
-- iso_zones' (the downloader runs the same statements on both), plus the expected
-- digest of a copy (copyTemplate: the source zone's computed digest).
CREATE TABLE template_zones (
    template_id uuid NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    image_store_id uuid REFERENCES image_stores(id) ON DELETE RESTRICT,
    state       text NOT NULL DEFAULT 'Queued'
                CHECK (state IN ('Queued', 'Downloading', 'Ready', 'Error', 'Deleting')),
    bytes_done  bigint NOT NULL DEFAULT 0,
    bytes_total bigint,
    -- The file's size (physical), and the disk's size as its header says (virtual).
    size        bigint,
    virtual_size bigint,
    checksum    text,
    expected_checksum text,
    install_path text,
    error_text  text,
    cleanup_path text,
    attempts    int NOT NULL DEFAULT 0,
    owner       uuid,
    lease_until timestamptz,
    updated     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, zone_id)
);
CREATE INDEX template_zones_work_idx ON template_zones (state, lease_until);

-- The shared statements read both tables with the same columns.
ALTER TABLE iso_zones ADD COLUMN virtual_size bigint;
ALTER TABLE iso_zones ADD COLUMN expected_checksum text;
