-- The download policy (issue 19): internal sites downloads may reach, CloudStack's
-- setting name and meaning (a comma-separated CIDR list; empty: none). Loopback and
-- link-local addresses additionally need the ISO's owner to be a root admin.
INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('secstorage.allowed.internal.sites', 'Advanced', 'Comma separated list of cidrs internal to the datacenter that can host template download servers, please note 0.0.0.0 is not a valid site', '', 'String', '{}', true, 'Secondary storage allowed internal sites')
ON CONFLICT (name) DO NOTHING;

-- Input lengths (issue 19): the API refuses values longer than the catalog's limits
-- (stratus_api::command, CloudStack's varchar(255) names); the schema holds the same
-- limits as the last word. NOT VALID: rows written before are left alone; new ones are
-- checked. management/tests/front_door.rs keeps these and the catalog in step.
ALTER TABLE zones ADD CONSTRAINT zones_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE pods ADD CONSTRAINT pods_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE clusters ADD CONSTRAINT clusters_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE accounts ADD CONSTRAINT accounts_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_username_length CHECK (char_length(username) <= 255) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_firstname_length CHECK (char_length(firstname) <= 255) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_lastname_length CHECK (char_length(lastname) <= 255) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_email_length CHECK (char_length(email) <= 255) NOT VALID;
ALTER TABLE storage_pools ADD CONSTRAINT storage_pools_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE image_stores ADD CONSTRAINT image_stores_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE isos ADD CONSTRAINT isos_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE isos ADD CONSTRAINT isos_display_text_length CHECK (char_length(display_text) <= 4096) NOT VALID;
ALTER TABLE isos ADD CONSTRAINT isos_url_length CHECK (char_length(url) <= 2048) NOT VALID;
ALTER TABLE service_offerings ADD CONSTRAINT service_offerings_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE service_offerings ADD CONSTRAINT service_offerings_display_text_length CHECK (char_length(display_text) <= 4096) NOT VALID;
ALTER TABLE disk_offerings ADD CONSTRAINT disk_offerings_name_length CHECK (char_length(name) <= 255) NOT VALID;
ALTER TABLE disk_offerings ADD CONSTRAINT disk_offerings_display_text_length CHECK (char_length(display_text) <= 4096) NOT VALID;
ALTER TABLE vms ADD CONSTRAINT vms_name_length CHECK (char_length(name) <= 63) NOT VALID;
ALTER TABLE vms ADD CONSTRAINT vms_display_name_length CHECK (char_length(display_name) <= 255) NOT VALID;
ALTER TABLE ssh_keypairs ADD CONSTRAINT ssh_keypairs_name_length CHECK (char_length(name) <= 255) NOT VALID;
