-- Guest networks. A Basic zone has one shared guest network, created with the zone
-- (CloudStack's guestNetworkForBasicZone); its addresses are the zone's guest IP ranges
-- and each host serves it on a Linux bridge named by its traffic label.
CREATE TABLE networks (
    id           uuid PRIMARY KEY,
    zone_id      uuid NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    name         text NOT NULL,
    display_text text NOT NULL,
    guest_type   text NOT NULL DEFAULT 'Shared' CHECK (guest_type IN ('Shared', 'Isolated')),
    traffic_type text NOT NULL DEFAULT 'Guest' CHECK (traffic_type = 'Guest'),
    -- The Linux bridge guests attach to on every host (the traffic label).
    bridge       text NOT NULL DEFAULT 'cloudbr0',
    state        text NOT NULL DEFAULT 'Setup' CHECK (state IN ('Allocated', 'Setup', 'Implemented', 'Shutdown')),
    created      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT networks_name_zone_key UNIQUE (zone_id, name)
);
CREATE INDEX networks_created_idx ON networks (created, id);

INSERT INTO networks (id, zone_id, name, display_text)
SELECT gen_random_uuid(), id, 'guestNetworkForBasicZone', 'guestNetworkForBasicZone'
FROM zones WHERE network_type = 'Basic';

INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('guest.network.bridge', 'Network', 'The Linux bridge (traffic label) hosts attach guests of new Basic zones to', 'cloudbr0', 'String', '{}', true, 'Guest network bridge');
