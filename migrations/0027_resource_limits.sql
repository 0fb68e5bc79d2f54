-- Resource limits (issue 22): CloudStack's resource_limit table. A row is an explicit
-- maximum for one account (or domain) and one resource type; without a row the
-- max.account.* settings apply. Counts are not stored: they are computed from the
-- resources themselves inside the allocating transaction, under a lock on the account
-- row, so two allocations cannot both see room for one and a count cannot drift.

CREATE TABLE resource_limits (
    id          uuid PRIMARY KEY,
    account_id  uuid REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id   uuid REFERENCES domains(id) ON DELETE CASCADE,
    -- CloudStack's Resource.ResourceType ordinals: 0 user_vm … 11 secondary_storage.
    resource_type smallint NOT NULL CHECK (resource_type BETWEEN 0 AND 11),
    -- -1 is unlimited; storage types in GiB, memory in MiB, as updateResourceLimit takes them.
    max         bigint NOT NULL CHECK (max >= -1),
    CONSTRAINT resource_limits_one_owner CHECK ((account_id IS NULL) <> (domain_id IS NULL))
);
CREATE UNIQUE INDEX resource_limits_account_key ON resource_limits (account_id, resource_type)
    WHERE account_id IS NOT NULL;
CREATE UNIQUE INDEX resource_limits_domain_key ON resource_limits (domain_id, resource_type)
    WHERE domain_id IS NOT NULL;

-- The root disk a VM was admitted with, counted against primary storage until its root
-- volume exists (the deploy workflow creates the volume later, on the pool it picks).
ALTER TABLE vms ADD COLUMN root_reserved_bytes bigint CHECK (root_reserved_bytes >= 0);

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('max.account.user.vms', 'Account Defaults', 'The default maximum number of user VMs that can be deployed for an account', '20', 'Long', '{}', true, 'Max account user VMs'),
('max.account.public.ips', 'Account Defaults', 'The default maximum number of public IPs that can be consumed by an account', '20', 'Long', '{}', true, 'Max account public IPs'),
('max.account.volumes', 'Account Defaults', 'The default maximum number of volumes that can be created for an account', '20', 'Long', '{}', true, 'Max account volumes'),
('max.account.snapshots', 'Account Defaults', 'The default maximum number of snapshots that can be created for an account', '20', 'Long', '{}', true, 'Max account snapshots'),
('max.account.templates', 'Account Defaults', 'The default maximum number of templates (and ISOs) that can be registered or created for an account', '20', 'Long', '{}', true, 'Max account templates'),
('max.account.projects', 'Account Defaults', 'The default maximum number of projects that can be created for an account', '10', 'Long', '{}', true, 'Max account projects'),
('max.account.networks', 'Account Defaults', 'The default maximum number of networks that can be created for an account', '20', 'Long', '{}', true, 'Max account networks'),
('max.account.vpcs', 'Account Defaults', 'The default maximum number of vpcs that can be created for an account', '20', 'Long', '{}', true, 'Max account vpcs'),
('max.account.cpus', 'Account Defaults', 'The default maximum number of cpu cores that can be used for an account', '40', 'Long', '{}', true, 'Max account cpus'),
('max.account.memory', 'Account Defaults', 'The default maximum memory (in MB) that can be used for an account', '40960', 'Long', '{}', true, 'Max account memory'),
('max.account.primary.storage', 'Account Defaults', 'The default maximum primary storage space (in GiB) that can be used for an account', '200', 'Long', '{}', true, 'Max account primary storage'),
('max.account.secondary.storage', 'Account Defaults', 'The default maximum secondary storage space (in GiB) that can be used for an account', '400', 'Long', '{}', true, 'Max account secondary storage')
ON CONFLICT (name) DO NOTHING;
