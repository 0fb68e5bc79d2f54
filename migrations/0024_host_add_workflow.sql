-- addHost runs on the workflow engine (services/hosts/bootstrap.rs, kind 'HostAdd').
--
-- The kind CHECK admits the production kinds only: 'Test' (the engine's toy workflow)
-- is gone from it; the engine's tests widen the CHECK in their own throwaway database.

DELETE FROM workflows WHERE kind = 'Test';
ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'HostAdd'));

-- One addHost of an address at a time: its workflow's resource is the host id it chose,
-- so two admins adding the same machine would otherwise each get a workflow (and the
-- loser's unwind would remove the winner's agent from the machine).
CREATE UNIQUE INDEX workflows_host_add_one_per_address ON workflows ((input ->> 'address'))
    WHERE kind = 'HostAdd' AND state IN ('Running', 'Unwinding');
