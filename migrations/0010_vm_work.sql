-- The multi-step VM operations (deploy, start) persist which step they are at,
-- so a job taken over after its management server died resumes from there (every step's
-- "do" is idempotent) or unwinds what the earlier steps did. A reboot is marked too, so
-- the state sync does not take the domain's brief absence for a death.

ALTER TABLE vms
    ADD COLUMN work        text CHECK (work IN ('Deploy', 'Start', 'Reboot')),
    ADD COLUMN work_step   int NOT NULL DEFAULT 0,
    ADD COLUMN keypair     text,
    ADD COLUMN state_changed timestamptz NOT NULL DEFAULT now();

-- Domains an agent reports that no VM row owns: alerted once, never destroyed.
CREATE TABLE unknown_domains (
    host_id   uuid NOT NULL REFERENCES hosts(id) ON DELETE CASCADE,
    uuid      uuid NOT NULL,
    name      text NOT NULL,
    first_seen timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host_id, uuid)
);

-- CloudStack's instance names are i-<account number>-<VM number>-VM.
ALTER TABLE accounts ADD COLUMN number bigserial NOT NULL UNIQUE;
