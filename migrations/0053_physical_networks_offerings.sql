-- Issue 15, first part: an Advanced zone's physical networks (their guest VLAN range),
-- the traffic each carries with its KVM label (the Linux bridge or NIC on every host),
-- their network service providers, the guest VLANs handed out, and network offerings
-- as rows instead of the one offering the code knew.

CREATE TABLE physical_networks (
    id            uuid PRIMARY KEY,
    zone_id       uuid NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    name          text NOT NULL,
    state         text NOT NULL DEFAULT 'Disabled' CHECK (state IN ('Enabled', 'Disabled')),
    -- The guest VLAN range as CloudStack prints it (sorted, merged: "100-199,300-399");
    -- the rows of guest_vnets are the truth, this is what was asked for.
    vlan          text NOT NULL DEFAULT '',
    isolation_method text CHECK (isolation_method IN ('VLAN', 'VXLAN')),
    tags          text,
    network_speed text,
    broadcast_domain_range text NOT NULL CHECK (broadcast_domain_range IN ('ZONE', 'POD')),
    domain_id     uuid REFERENCES domains(id),
    created       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX physical_networks_zone_idx ON physical_networks (zone_id, created, id);

CREATE TABLE physical_network_traffic_types (
    id            uuid PRIMARY KEY,
    physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
    -- Denormalised so that "one physical network per traffic type in a zone" is a
    -- unique index, not a check two concurrent calls can both pass.
    zone_id       uuid NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
    traffic_type  text NOT NULL CHECK (traffic_type IN ('Public', 'Guest', 'Management', 'Storage')),
    kvm_label     text,
    xen_label     text,
    vmware_label  text,
    vlan          text,
    isolation_method text,
    created       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT traffic_types_network_key UNIQUE (physical_network_id, traffic_type),
    CONSTRAINT traffic_types_zone_key UNIQUE (zone_id, traffic_type)
);

CREATE TABLE network_service_providers (
    id            uuid PRIMARY KEY,
    physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
    name          text NOT NULL,
    state         text NOT NULL CHECK (state IN ('Enabled', 'Disabled', 'Shutdown')),
    created       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT providers_network_name_key UNIQUE (physical_network_id, name)
);

-- One row per VLAN id (or VXLAN VNI) of a physical network's range; network_id is set while a guest
-- network holds it. Taking one is an UPDATE … WHERE network_id IS NULL … FOR UPDATE
-- SKIP LOCKED, so two implements never get the same VLAN, and the partial unique index
-- keeps one network from holding two.
CREATE TABLE guest_vnets (
    physical_network_id uuid NOT NULL REFERENCES physical_networks(id) ON DELETE CASCADE,
    vnet          int NOT NULL CHECK (vnet BETWEEN 0 AND 16777214),
    network_id    uuid REFERENCES networks(id) ON DELETE SET NULL,
    taken         timestamptz,
    PRIMARY KEY (physical_network_id, vnet)
);
CREATE UNIQUE INDEX guest_vnets_network_key ON guest_vnets (network_id) WHERE network_id IS NOT NULL;

CREATE TABLE network_offerings (
    id            uuid PRIMARY KEY,
    name          text NOT NULL,
    display_text  text NOT NULL,
    traffic_type  text NOT NULL DEFAULT 'Guest' CHECK (traffic_type = 'Guest'),
    guest_type    text NOT NULL CHECK (guest_type IN ('Shared', 'Isolated')),
    availability  text NOT NULL DEFAULT 'Optional' CHECK (availability IN ('Required', 'Optional')),
    state         text NOT NULL DEFAULT 'Disabled' CHECK (state IN ('Enabled', 'Disabled', 'Inactive')),
    -- The offerings Stratus ships: never deleted.
    is_default    boolean NOT NULL DEFAULT false,
    specify_vlan  boolean NOT NULL DEFAULT false,
    specify_ip_ranges boolean NOT NULL DEFAULT false,
    conserve_mode boolean NOT NULL DEFAULT true,
    is_persistent boolean NOT NULL DEFAULT false,
    -- true: guests may send anywhere unless an egress rule denies; false: nothing leaves
    -- but what an egress rule allows (CloudStack's default isolated offering).
    egress_default_allow boolean NOT NULL DEFAULT true,
    network_rate  int CHECK (network_rate IS NULL OR network_rate >= 0),
    tags          text,
    max_connections int CHECK (max_connections IS NULL OR max_connections >= 0),
    keepalive     boolean NOT NULL DEFAULT false,
    sort_key      int NOT NULL DEFAULT 0,
    created       timestamptz NOT NULL DEFAULT now(),
    removed       timestamptz
);
CREATE INDEX network_offerings_created_idx ON network_offerings (sort_key, created, id) WHERE removed IS NULL;
-- CloudStack's rule: one Required offering (it makes an account's first network).
CREATE UNIQUE INDEX network_offerings_one_required ON network_offerings ((true))
    WHERE availability = 'Required' AND removed IS NULL;

CREATE TABLE network_offering_services (
    offering_id   uuid NOT NULL REFERENCES network_offerings(id) ON DELETE CASCADE,
    service       text NOT NULL CHECK (service IN ('Dhcp', 'Dns', 'UserData', 'Firewall', 'SourceNat',
                                                   'StaticNat', 'PortForwarding', 'SecurityGroup')),
    provider      text NOT NULL,
    PRIMARY KEY (offering_id, service)
);

-- The shared offering every Basic zone's guest network uses (the id the code has always
-- answered), and CloudStack's default isolated offering with source NAT, Required.
INSERT INTO network_offerings (id, name, display_text, guest_type, availability, state, is_default,
                               specify_vlan, specify_ip_ranges, egress_default_allow, created) VALUES
('5c0e6e1d-5a4e-4d0a-9b1e-000000000001', 'DefaultSharedNetworkOffering', 'Offering for Shared networks',
 'Shared', 'Optional', 'Enabled', true, false, true, true, '2026-01-01T00:00:00Z'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'DefaultIsolatedNetworkOfferingWithSourceNatService',
 'Offering for Isolated networks with Source Nat service enabled',
 'Isolated', 'Required', 'Enabled', true, false, false, false, '2026-01-01T00:00:01Z');
INSERT INTO network_offering_services (offering_id, service, provider) VALUES
('5c0e6e1d-5a4e-4d0a-9b1e-000000000001', 'Dhcp', 'DhcpServer'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'Dhcp', 'VirtualRouter'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'Dns', 'VirtualRouter'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'UserData', 'VirtualRouter'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'Firewall', 'VirtualRouter'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'SourceNat', 'VirtualRouter'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'StaticNat', 'VirtualRouter'),
('5c0e6e1d-5a4e-4d0a-9b1e-000000000002', 'PortForwarding', 'VirtualRouter');

-- Networks name their offering (Basic zones' guest networks: the shared one).
ALTER TABLE networks ADD COLUMN offering_id uuid NOT NULL
    DEFAULT '5c0e6e1d-5a4e-4d0a-9b1e-000000000001' REFERENCES network_offerings(id);
ALTER TABLE networks ALTER COLUMN offering_id DROP DEFAULT;
