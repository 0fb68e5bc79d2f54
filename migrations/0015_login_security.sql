-- The front door (issue 19): brute-force lockout, hashed session ids, API rate limits.

-- CloudStack's `user.incorrect_login_attempts`: consecutive failed logins; a success or
-- enableUser resets it, reaching `incorrect.login.attempts.allowed` disables the user.
ALTER TABLE users ADD COLUMN incorrect_login_attempts integer NOT NULL DEFAULT 0
    CHECK (incorrect_login_attempts >= 0);

-- Sessions keep only the SHA-256 of their id (the JSESSIONID cookie); the session key is
-- derived from the id with the management key, so it is not stored at all. A database
-- dump therefore opens no session. Existing sessions (stored in clear) are dropped: their
-- users log in again.
DELETE FROM sessions;
ALTER TABLE sessions DROP COLUMN session_key;
ALTER TABLE sessions RENAME COLUMN id TO id_hash;
ALTER TABLE sessions ADD CONSTRAINT sessions_id_hash_is_sha256 CHECK (id_hash ~ '^[0-9a-f]{64}$');

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('incorrect.login.attempts.allowed', 'Advanced', 'Incorrect login attempts allowed before the user is disabled (when value > 0). If value <=0 users are not disabled after failed login attempts', '5', 'Integer', '{}', true, 'Incorrect login attempts allowed'),
('api.throttling.cachesize', 'Advanced', 'Account based API count cache size', '50000', 'Integer', '{}', false, 'API throttling cache size');
