-- Lists at 25,000 objects (issue 20). A keyword is `ILIKE '%word%'`, which no btree
-- serves: trigram indexes let Postgres find the few matching rows instead of reading
-- every row (pg_trgm is in PostgreSQL's contrib, like btree_gist in 0001, and trusted:
-- the database's owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX vms_name_trgm_idx ON vms USING gin (name gin_trgm_ops) WHERE removed IS NULL;
CREATE INDEX vms_display_name_trgm_idx ON vms USING gin (display_name gin_trgm_ops)
    WHERE removed IS NULL;
CREATE INDEX hosts_name_trgm_idx ON hosts USING gin (name gin_trgm_ops);

-- An account's own VMs in list order (what a user who is not an admin lists), and a
-- zone's.
CREATE INDEX vms_account_created_idx ON vms (account_id, created, id) WHERE removed IS NULL;
CREATE INDEX vms_zone_idx ON vms (zone_id) WHERE removed IS NULL;

-- Volumes and accounts in list order (each list pages by `created, id`).
CREATE INDEX volumes_created_idx ON volumes (created, id) WHERE removed IS NULL;
CREATE INDEX volumes_name_trgm_idx ON volumes USING gin (name gin_trgm_ops) WHERE removed IS NULL;
CREATE INDEX accounts_created_idx ON accounts (created, id);
CREATE INDEX accounts_name_trgm_idx ON accounts USING gin (name gin_trgm_ops);

-- A zone's hosts (placement reads them all on every deploy).
CREATE INDEX hosts_zone_idx ON hosts (zone_id);

-- A VM's volumes. The only index led with (vm_id, device_id) and is partial on
-- `device_id IS NOT NULL`, which a lookup of a VM's ROOT volume does not imply: the
-- usage count behind listAccounts read every volume once per VM of the account, 46 s
-- for an account of 25,000 VMs (issue 20; 91 ms with this index).
CREATE INDEX volumes_vm_idx ON volumes (vm_id) WHERE removed IS NULL;
