-- The workflow engine (services/workflow.rs): every multi-step operation is a row here,
-- with the step it is in and since when, each done step's output, and the management
-- server that runs it under a lease. A job taken over after its server died finds its
-- workflow by job id and resumes it; an admin sees it with listWorkflows.

CREATE TABLE workflows (
    id            uuid PRIMARY KEY,
    -- 'Test' is the engine's own tests' toy workflow.
    kind          text NOT NULL CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'Test')),
    resource_type text NOT NULL,
    resource_id   uuid NOT NULL,
    -- The async job that runs it: a job has at most one workflow, and finds it again.
    job_id        uuid UNIQUE REFERENCES async_jobs(id) ON DELETE SET NULL,
    state         text NOT NULL DEFAULT 'Running'
                  CHECK (state IN ('Running', 'Unwinding', 'Succeeded', 'Failed')),
    -- Running: the step being done (= steps done so far). Unwinding: the steps still to
    -- undo (the one being undone is step_index - 1).
    step_index    integer NOT NULL DEFAULT 0 CHECK (step_index >= 0 AND step_index <= step_count),
    step_count    integer NOT NULL CHECK (step_count > 0),
    step          text,
    step_started  timestamptz NOT NULL DEFAULT now(),
    input         jsonb NOT NULL,
    -- Each done step's output by step name, for later steps and undos.
    outputs       jsonb NOT NULL DEFAULT '{}',
    error         text,
    error_code    integer,
    owner_ms      uuid,
    lease_until   timestamptz,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflows_failed_has_error CHECK ((state IN ('Unwinding', 'Failed')) = (error IS NOT NULL))
);

-- One operation at a time on a resource.
CREATE UNIQUE INDEX workflows_one_active_per_resource ON workflows (resource_type, resource_id)
    WHERE state IN ('Running', 'Unwinding');
CREATE INDEX workflows_resource_idx ON workflows (resource_id, created);
CREATE INDEX workflows_created_idx ON workflows (created);

-- Deploys and starts in flight move over: their job (still pending) finds them by job
-- id and resumes at the step they had reached. Their outputs are empty: the VM steps
-- read what earlier steps did from the VM's rows when an output is missing. A reboot in
-- flight needs no workflow: the state sync simply looks at the VM again.
INSERT INTO workflows (id, kind, resource_type, resource_id, job_id, state, step_index,
                       step_count, step, input)
SELECT gen_random_uuid(),
       CASE v.work WHEN 'Deploy' THEN 'VmDeploy' ELSE 'VmStart' END,
       'VirtualMachine', v.id, j.id, 'Running', LEAST(GREATEST(v.work_step, 0), 4), 4,
       (ARRAY['Allocate', 'Volume', 'Network', 'Domain'])[LEAST(GREATEST(v.work_step, 0), 4) + 1],
       jsonb_build_object('vm', v.id)
FROM vms v
LEFT JOIN LATERAL (SELECT id FROM async_jobs
                   WHERE instance_id = v.id AND status = 0
                   ORDER BY created DESC LIMIT 1) j ON true
WHERE v.work IN ('Deploy', 'Start') AND v.removed IS NULL;

ALTER TABLE vms DROP COLUMN work, DROP COLUMN work_step;
