-- The management servers' certificate authority (one per cloud). It issues each host
-- agent's TLS server certificate at addHost and each management server's client
-- certificate at start, so agents accept commands from management servers only.
-- The private key is sealed with the management key (<data-dir>/management.key), never
-- stored in clear.
CREATE TABLE pki_ca (
    id         smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    cert_pem   text NOT NULL,
    key_sealed bytea NOT NULL,
    created    timestamptz NOT NULL DEFAULT now()
);

-- Where the host's agent serves its command API (HTTPS, mutual TLS).
ALTER TABLE hosts ADD COLUMN agent_port integer NOT NULL DEFAULT 8250
    CHECK (agent_port BETWEEN 1 AND 65535);
