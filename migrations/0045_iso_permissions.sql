-- Launch permissions of ISOs, as templates have them (updateIsoPermissions op=add/remove/
-- reset): the accounts a private ISO is shared with.
CREATE TABLE iso_permissions (
    iso_id     uuid NOT NULL REFERENCES isos(id) ON DELETE CASCADE,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (iso_id, account_id)
);
CREATE INDEX iso_permissions_account_idx ON iso_permissions (account_id);
