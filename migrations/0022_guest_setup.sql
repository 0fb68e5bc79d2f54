-- Guest setup (issue 13): what a VM's guest is given besides its disk.
--
-- User data: as the API took it (base64, at most vm.userdata.max.length characters), on the
-- VM, and named user data an account registers (registerUserData) that VMs may name
-- (userdataid; the VM keeps its own copy, as CloudStack does, so the guest's data does
-- not change under it when the named one is deleted).
--
-- Passwords (password-enabled templates): the plaintext, sealed with the server's secret
-- key, until the VM's host agent holds it (it serves it to the guest once); and
-- CloudStack's "Encrypted.Password": the password encrypted with the VM's RSA key pair,
-- which getVMPassword answers (only the key's owner can read it).

CREATE TABLE user_data (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (name <> '' AND char_length(name) <= 255),
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    user_data   text NOT NULL,
    -- Variable names the data uses ({{ ds.meta_data.NAME }}), as registered.
    params      text[] NOT NULL DEFAULT '{}',
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_data_name_account_key UNIQUE (account_id, name)
);
CREATE INDEX user_data_created_idx ON user_data (created, id);

ALTER TABLE vms
    ADD COLUMN user_data text,
    ADD COLUMN user_data_id uuid REFERENCES user_data(id) ON DELETE SET NULL,
    ADD COLUMN password_pending bytea,
    ADD COLUMN encrypted_password text;

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('vm.userdata.max.length', 'Advanced', 'Max length of vm userdata after base64 encoding. Default is 32768 and maximum is 1048576', '32768', 'Integer', '{}', true, 'Vm userdata max length'),
('vm.password.length', 'Advanced', 'Specifies the length of a randomly generated password (CloudStack: 6; Stratus: 12, at least 8)', '12', 'Integer', '{}', true, 'Vm password length')
ON CONFLICT (name) DO NOTHING;
