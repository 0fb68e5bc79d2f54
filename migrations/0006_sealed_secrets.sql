-- API secret keys are kept sealed with the management key (HMAC verification needs them
-- in clear, so they cannot be hashed). Existing plaintext keys are sealed by the first
-- management server that starts with this schema, which then clears `secret_key`.
ALTER TABLE users ADD COLUMN secret_key_sealed bytea;
ALTER TABLE users DROP CONSTRAINT users_keys_pair;
ALTER TABLE users ADD CONSTRAINT users_keys_pair
    CHECK ((api_key IS NULL) = (secret_key IS NULL AND secret_key_sealed IS NULL));
