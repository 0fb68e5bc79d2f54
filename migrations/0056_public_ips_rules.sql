-- Issue 15, public side of Advanced zones: public IP ranges (createVlanIpRange with
-- forvirtualnetwork=true records a 'public' range on the physical network carrying the
-- zone's Public traffic), the public addresses accounts hold, and the rules the routers
-- enforce on them (port forwarding, the ingress firewall of a public address, the egress
-- firewall of a guest network).

ALTER TABLE ip_ranges DROP CONSTRAINT ip_ranges_purpose_check;
ALTER TABLE ip_ranges
    ADD CONSTRAINT ip_ranges_purpose_check CHECK (purpose IN ('management', 'guest', 'public')),
    -- A public range rides the physical network that carries the zone's Public traffic.
    ADD CONSTRAINT ip_ranges_public_has_physical_network
        CHECK (purpose <> 'public' OR physical_network_id IS NOT NULL),
    ADD CONSTRAINT ip_ranges_physical_network_id_fkey
        FOREIGN KEY (physical_network_id) REFERENCES physical_networks(id) ON DELETE RESTRICT;

-- One row per *allocated* public address (CloudStack keeps a Free row per address; here
-- a free address is one of a public range without a row). The unique (zone, address)
-- decides who gets an address under concurrency: allocation inserts the lowest free one
-- with ON CONFLICT DO NOTHING and retries, never a check-then-insert.
CREATE TABLE public_ips (
    id          uuid PRIMARY KEY,
    zone_id     uuid NOT NULL REFERENCES zones(id) ON DELETE RESTRICT,
    range_id    uuid NOT NULL REFERENCES ip_ranges(id) ON DELETE RESTRICT,
    address     inet NOT NULL,
    -- The guest network it is associated with (CloudStack's associatednetworkid); its
    -- addresses and rules go with it when it is deleted.
    network_id  uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE RESTRICT,
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    is_source_nat boolean NOT NULL DEFAULT false,
    state       text NOT NULL DEFAULT 'Allocating'
                CHECK (state IN ('Allocating', 'Allocated', 'Releasing')),
    -- Static NAT: the VM and its guest address everything to this address goes to.
    vm_id       uuid REFERENCES vms(id) ON DELETE SET NULL,
    vm_ip       inet,
    display     boolean NOT NULL DEFAULT true,
    allocated   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT public_ips_address_key UNIQUE (zone_id, address),
    CONSTRAINT public_ips_source_nat_not_static CHECK (NOT (is_source_nat AND vm_id IS NOT NULL))
);
-- A network has at most one source NAT address, and a guest address at most one static
-- NAT address: indexes, not checks two requests can both pass.
CREATE UNIQUE INDEX public_ips_one_source_nat ON public_ips (network_id) WHERE is_source_nat;
CREATE UNIQUE INDEX public_ips_one_static_nat ON public_ips (network_id, vm_ip) WHERE vm_id IS NOT NULL;
CREATE INDEX public_ips_account_idx ON public_ips (account_id, allocated, id);
CREATE INDEX public_ips_range_idx ON public_ips (range_id);

-- CloudStack's firewall_rules: port forwarding (ingress, on a public address, to a VM),
-- firewall (ingress on a public address; egress of a guest network). A port forwarding
-- rule made with openfirewall=true has a firewall rule `related` to it, deleted with it.
CREATE TABLE network_rules (
    id          uuid PRIMARY KEY,
    network_id  uuid NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
    public_ip_id uuid REFERENCES public_ips(id) ON DELETE CASCADE,
    purpose     text NOT NULL CHECK (purpose IN ('PortForwarding', 'Firewall')),
    traffic     text NOT NULL CHECK (traffic IN ('Ingress', 'Egress')),
    protocol    text NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'all')),
    start_port  int CHECK (start_port BETWEEN 1 AND 65535),
    end_port    int CHECK (end_port BETWEEN 1 AND 65535),
    icmp_type   int CHECK (icmp_type BETWEEN -1 AND 255),
    icmp_code   int CHECK (icmp_code BETWEEN -1 AND 255),
    -- Source CIDRs as the client wrote them (the listing answers them back).
    cidrs       text[] NOT NULL DEFAULT '{}',
    dest_cidrs  text[] NOT NULL DEFAULT '{}',
    vm_id       uuid REFERENCES vms(id) ON DELETE CASCADE,
    vm_ip       inet,
    private_start int CHECK (private_start BETWEEN 1 AND 65535),
    private_end int CHECK (private_end BETWEEN 1 AND 65535),
    related_id  uuid REFERENCES network_rules(id) ON DELETE CASCADE,
    state       text NOT NULL DEFAULT 'Add' CHECK (state IN ('Add', 'Active', 'Revoke')),
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE RESTRICT,
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    display     boolean NOT NULL DEFAULT true,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT network_rules_ports_order CHECK (start_port <= end_port),
    CONSTRAINT network_rules_ingress_has_ip CHECK (traffic = 'Egress' OR public_ip_id IS NOT NULL),
    CONSTRAINT network_rules_port_forward CHECK (purpose <> 'PortForwarding'
        OR (traffic = 'Ingress' AND protocol IN ('tcp', 'udp') AND start_port IS NOT NULL
            AND vm_id IS NOT NULL AND vm_ip IS NOT NULL AND private_start IS NOT NULL
            AND private_end IS NOT NULL AND private_start <= private_end))
);
CREATE INDEX network_rules_network_idx ON network_rules (network_id, created, id);
CREATE INDEX network_rules_ip_idx ON network_rules (public_ip_id) WHERE public_ip_id IS NOT NULL;
CREATE INDEX network_rules_vm_idx ON network_rules (vm_id) WHERE vm_id IS NOT NULL;
CREATE INDEX network_rules_related_idx ON network_rules (related_id) WHERE related_id IS NOT NULL;
