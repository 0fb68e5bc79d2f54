-- Issue 13 item 7: no silent drops, and the first calls deployment tools make.

-- Security groups are not implemented: a zone never says it has them (createZone refuses
-- securitygroupenabled=true), so listZones' securitygroupsenabled is always the truth.
UPDATE zones SET security_groups_enabled = false WHERE security_groups_enabled;
ALTER TABLE zones ADD CONSTRAINT zones_no_security_groups CHECK (NOT security_groups_enabled);

-- Resource tags (createTags, deleteTags, listTags): key/value pairs on a user's
-- resources. The resource is named by its type and uuid (no foreign key: one table serves
-- several resource tables; deleting a resource deletes its tags in the same transaction
-- where Stratus deletes rows, and listTags hides tags of resources that are gone). The
-- owner is the resource's owner when tagged.
CREATE TABLE resource_tags (
    id uuid PRIMARY KEY,
    key varchar(255) NOT NULL CHECK (key <> ''),
    value varchar(255) NOT NULL,
    resource_type varchar(32) NOT NULL
        CHECK (resource_type IN ('UserVm', 'Volume', 'Template', 'ISO')),
    resource_id uuid NOT NULL,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id uuid NOT NULL REFERENCES domains(id),
    customer varchar(255),
    created timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT resource_tags_key_once UNIQUE (resource_type, resource_id, key)
);
CREATE INDEX resource_tags_resource ON resource_tags (resource_id);
CREATE INDEX resource_tags_account ON resource_tags (account_id);
