-- SSH key pairs (createSSHKeyPair, registerSSHKeyPair): only the public key is kept; a
-- generated private key is answered once and never stored. Names are unique per account,
-- and so is the key itself (CloudStack refuses the same public key twice in one account);
-- the fingerprint is the MD5 of the key blob, so equal keys have equal fingerprints.
-- Key pairs go with their account.

CREATE TABLE ssh_keypairs (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    -- "<algorithm> <base64 blob>", without the comment.
    public_key  text NOT NULL,
    fingerprint text NOT NULL,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ssh_keypairs_name_account_key UNIQUE (account_id, name),
    CONSTRAINT ssh_keypairs_fingerprint_account_key UNIQUE (account_id, fingerprint)
);
CREATE INDEX ssh_keypairs_fingerprint_idx ON ssh_keypairs (fingerprint);
