-- createTemplate and restoreVirtualMachine (issue 13).
--
-- A template made from a stopped VM's root volume has no URL: its one copy is written by
-- the TemplateCreate workflow (a flattened qcow2 of the volume, converted straight into
-- the zone's image store), and it names the volume it came from. While the workflow
-- writes it, its zone row is 'Creating', a state the downloader never claims.

ALTER TABLE templates ALTER COLUMN url DROP NOT NULL;
ALTER TABLE templates ADD COLUMN source_volume_id uuid;
ALTER TABLE templates ADD CONSTRAINT templates_has_a_source
    CHECK (url IS NOT NULL OR source_volume_id IS NOT NULL);

ALTER TABLE template_zones DROP CONSTRAINT template_zones_state_check;
ALTER TABLE template_zones ADD CONSTRAINT template_zones_state_check
    CHECK (state IN ('Queued', 'Downloading', 'Creating', 'Ready', 'Error', 'Deleting'));

-- The kinds the engine knows (services/workflow.rs `Kind`).
ALTER TABLE workflows DROP CONSTRAINT workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'VmRestore',
                    'TemplateCreate', 'HostAdd', 'Test'));
