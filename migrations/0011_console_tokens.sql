-- Console access (createConsoleEndpoint): short-lived, single-use tokens, each bound to
-- one VM and the user it was issued to. Only the SHA-256 of a token is stored, so a
-- database dump opens no console. A token is consumed (used set) by the first WebSocket
-- that presents it, in one UPDATE, so two management servers can never both accept it.

CREATE TABLE console_tokens (
    token_hash  bytea PRIMARY KEY,
    vm_id       uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- SHA-256 of the caller's optional extra token (createConsoleEndpoint's `token`),
    -- which the WebSocket must then present as `extra`.
    extra_hash  bytea,
    created     timestamptz NOT NULL DEFAULT now(),
    expires     timestamptz NOT NULL,
    used        timestamptz
);
CREATE INDEX console_tokens_expires_idx ON console_tokens (expires);

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('console.token.validity', 'Advanced', 'Seconds within which the token of a console endpoint (createConsoleEndpoint) must be used to connect; each token connects once', '60', 'Integer', '{}', true, 'Console token validity');
