-- Issue 17: a live migration (migrateVirtualMachine, and each move of
-- prepareHostForMaintenance) is the VmMigrate workflow, so a management server that dies
-- mid-move leaves it to be resumed or unwound instead of a record on the wrong host.
-- The kinds are 0048's list plus VmMigrate.
ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'VmRestore',
                    'TemplateCreate', 'HostAdd',
                    'SnapshotCreate', 'SnapshotRevert', 'SnapshotRestore', 'SnapshotDelete',
                    'VmSnapshotCreate', 'VmSnapshotRevert', 'VmSnapshotDelete',
                    'VmMigrate'));
