-- Issue 15: isolated guest networks. A network now has an owner (account networks;
-- a Basic zone's shared network has none: the zone's), the offering it was made from
-- (0053), the physical network it rides, its own CIDR and gateway (Basic zones' come
-- from the zone's guest ranges), its network domain, and CloudStack's further states.
ALTER TABLE networks DROP CONSTRAINT networks_name_zone_key;
ALTER TABLE networks DROP CONSTRAINT networks_state_check;
ALTER TABLE networks
    ADD CONSTRAINT networks_state_check CHECK (state IN
        ('Allocated', 'Setup', 'Implementing', 'Implemented', 'Shutdown', 'Destroy')),
    ADD COLUMN account_id  uuid REFERENCES accounts(id),
    ADD COLUMN domain_id   uuid REFERENCES domains(id),
    ADD COLUMN physical_network_id uuid REFERENCES physical_networks(id),
    ADD COLUMN net_cidr    cidr,
    ADD COLUMN net_gateway inet,
    ADD COLUMN net_domain  text,
    ADD COLUMN acl_type    text NOT NULL DEFAULT 'Domain' CHECK (acl_type IN ('Domain', 'Account')),
    ADD COLUMN restart_required boolean NOT NULL DEFAULT false,
    ADD COLUMN display_network  boolean NOT NULL DEFAULT true,
    -- An isolated network is an account's, with its own subnet.
    ADD CONSTRAINT networks_isolated_owned CHECK (guest_type = 'Shared'
        OR (account_id IS NOT NULL AND domain_id IS NOT NULL AND net_cidr IS NOT NULL
            AND net_gateway IS NOT NULL AND acl_type = 'Account'));
CREATE INDEX networks_account_idx ON networks (account_id, created, id) WHERE account_id IS NOT NULL;

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('network.guest.cidr.limit', 'Network', 'size limit for guest cidr; cannot be less than this value', '22', 'Integer', '{}', true, 'Network guest cidr limit');
