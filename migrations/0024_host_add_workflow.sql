-- addHost runs on the workflow engine (services/hosts/bootstrap.rs, kind 'HostAdd'; the
-- kind CHECK that admits it is 0025's, and 0026's without the test kind).
--
-- One addHost of an address at a time: its workflow's resource is the host id it chose,
-- so two admins adding the same machine would otherwise each get a workflow (and the
-- loser's unwind would remove the winner's agent from the machine).
CREATE UNIQUE INDEX workflows_host_add_one_per_address ON workflows ((input ->> 'address'))
    WHERE kind = 'HostAdd' AND state IN ('Running', 'Unwinding');
