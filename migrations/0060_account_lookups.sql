-- Reads by account that listAccounts makes for each page of 500 (issue 20).
--
-- The server's statements are prepared, and after a few runs Postgres may keep a generic
-- plan: one made without seeing the array in `account_id = ANY($1)`. Without an index
-- that plan reads the whole table and compares every row with each of the 500 ids in
-- turn. At 25,000 users, the users of one page of accounts took 60-100 ms that way, and
-- 4.5 ms through this index.
CREATE INDEX users_account_idx ON users (account_id);

-- The usage count's templates and ISOs of each account (one probe per account listed).
CREATE INDEX templates_account_idx ON templates (account_id) WHERE removed IS NULL;
CREATE INDEX isos_account_idx ON isos (account_id) WHERE removed IS NULL;

-- The usage count reads each VM's newest live ROOT volume. With this index that read is
-- a single index probe, with no sort. For an account of 25,000 VMs the count went from
-- 96 ms to 70 ms.
CREATE INDEX volumes_root_idx ON volumes (vm_id, created DESC)
    WHERE volume_type = 'ROOT' AND removed IS NULL;
