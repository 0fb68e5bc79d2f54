-- The workflow kinds the engine runs in production (rules/workflow.rs `Kind`). 'Test',
-- the engine's toy workflow, is no longer admitted: the engine's tests widen the CHECK in
-- their own throwaway database (management/tests/workflow.rs).

DELETE FROM workflows WHERE kind = 'Test';
ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'VmRestore',
                    'TemplateCreate', 'HostAdd'));
