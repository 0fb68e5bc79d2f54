-- Issue 22: CloudStack's max.domain.* settings, the limits of a domain that neither sets
-- its own nor has an ancestor below ROOT that does (ROOT is never limited).
INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('max.domain.user.vms', 'Domain Defaults', 'The default maximum number of user VMs that can be deployed for a domain', '40', 'Long', '{}', true, 'Max domain user VMs'),
('max.domain.public.ips', 'Domain Defaults', 'The default maximum number of public IPs that can be consumed by a domain', '40', 'Long', '{}', true, 'Max domain public IPs'),
('max.domain.volumes', 'Domain Defaults', 'The default maximum number of volumes that can be created for a domain', '40', 'Long', '{}', true, 'Max domain volumes'),
('max.domain.snapshots', 'Domain Defaults', 'The default maximum number of snapshots that can be created for a domain', '40', 'Long', '{}', true, 'Max domain snapshots'),
('max.domain.templates', 'Domain Defaults', 'The default maximum number of templates that can be deployed for a domain', '40', 'Long', '{}', true, 'Max domain templates'),
('max.domain.projects', 'Domain Defaults', 'The default maximum number of projects that can be created for a domain', '50', 'Long', '{}', true, 'Max domain projects'),
('max.domain.networks', 'Domain Defaults', 'The default maximum number of networks that can be created for a domain', '40', 'Long', '{}', true, 'Max domain networks'),
('max.domain.vpcs', 'Domain Defaults', 'The default maximum number of vpcs that can be created for a domain', '40', 'Long', '{}', true, 'Max domain vpcs'),
('max.domain.cpus', 'Domain Defaults', 'The default maximum number of cpu cores that can be used for a domain', '80', 'Long', '{}', true, 'Max domain cpus'),
('max.domain.memory', 'Domain Defaults', 'The default maximum memory (in MB) that can be used for a domain', '81920', 'Long', '{}', true, 'Max domain memory'),
('max.domain.primary.storage', 'Domain Defaults', 'The default maximum primary storage space (in GiB) that can be used for a domain', '400', 'Long', '{}', true, 'Max domain primary storage'),
('max.domain.secondary.storage', 'Domain Defaults', 'The default maximum secondary storage space (in GiB) that can be used for a domain', '800', 'Long', '{}', true, 'Max domain secondary storage')
ON CONFLICT (name) DO NOTHING;

-- deleteUser takes a user whatever it did, as CloudStack's does: its VMs stay its
-- account's and its jobs stay on record, no longer naming it.
ALTER TABLE vms ALTER COLUMN user_id DROP NOT NULL,
    DROP CONSTRAINT vms_user_id_fkey,
    ADD CONSTRAINT vms_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE async_jobs ALTER COLUMN user_id DROP NOT NULL,
    DROP CONSTRAINT async_jobs_user_id_fkey,
    ADD CONSTRAINT async_jobs_user_id_fkey FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL;

-- When a volume was attached to its VM (CloudStack's `attached`): set as it gets a VM,
-- cleared as it loses it. A root volume made with its VM was attached when it was made.
ALTER TABLE volumes ADD COLUMN attached timestamptz;
UPDATE volumes SET attached = created WHERE vm_id IS NOT NULL;

-- What a volume's file takes on its pool (NFS `used`), measured with the pool's capacity
-- every storage.stats.interval: CloudStack's `physicalsize`. NULL until first measured.
ALTER TABLE volumes ADD COLUMN physical_bytes bigint CHECK (physical_bytes >= 0);
