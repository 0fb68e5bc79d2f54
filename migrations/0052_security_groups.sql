-- Security groups (issue 14; CloudStack's createSecurityGroup, authorize/revoke
-- ingress and egress, deployVirtualMachine's securitygroupids/names).
--
-- A group belongs to an account (a project's groups to the project's account). Each
-- account has one group named 'default' ("Default Security Group") with no rules:
-- nothing comes in, everything goes out. It cannot be deleted or renamed, and no
-- other group may take the name (case-insensitively, as CloudStack compares it).
--
-- A rule is an allow: one direction, one protocol and port (or ICMP type/code) range,
-- and one source (ingress) or destination (egress): a CIDR, or another group, whose
-- Running members' addresses it follows. A cidrlist of three CIDRs is three rules,
-- each with its own id (the `ruleid` revoke takes). The CIDR is kept as the client
-- sent it (`cidr_text`, answered back as is: Ansible compares it to its input;
-- CloudStack accepts host bits, 10.0.0.5/8) and as the network it names (`cidr`,
-- `network(inet)`: host bits cleared, what the renderer uses). Duplicates are judged
-- on the text, as CloudStack's findByProtoPortsAndCidr does.
--
-- Enforcement is the host's (the agent renders every rule set of its VMs into one
-- nftables table and loads it atomically). `hosts.sg_generation` counts changes
-- that touch any VM of the host (a rule of a group one of its VMs is in, or of a
-- group whose rules reference a group one of its VMs is in; a member starting,
-- stopping or moving); `hosts.sg_applied` is the generation the agent last
-- confirmed. A reconciler pushes the whole rule set of every host where the two
-- differ, so a host that restarts or reconnects (applied reset to 0) gets it all
-- again, and a lost push is retried.

CREATE TABLE security_groups (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (btrim(name) <> ''),
    description text,
    account_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    domain_id   uuid NOT NULL REFERENCES domains(id) ON DELETE RESTRICT,
    is_default  boolean NOT NULL DEFAULT false,
    created     timestamptz NOT NULL DEFAULT now(),
    CHECK (is_default = (lower(name) = 'default'))
);
CREATE UNIQUE INDEX security_groups_account_name_key ON security_groups (account_id, lower(name));
CREATE INDEX security_groups_domain_idx ON security_groups (domain_id);
CREATE INDEX security_groups_created_idx ON security_groups (created, id);

CREATE TABLE security_group_rules (
    id          uuid PRIMARY KEY,
    group_id    uuid NOT NULL REFERENCES security_groups(id) ON DELETE CASCADE,
    direction   text NOT NULL CHECK (direction IN ('Ingress', 'Egress')),
    -- 'tcp', 'udp', 'icmp', 'all', or a protocol number other than 1 ('6' stays '6').
    protocol    text NOT NULL CHECK (protocol IN ('tcp', 'udp', 'icmp', 'all')
                                     OR protocol ~ '^[0-9]{1,3}$'),
    -- tcp/udp: the port range (0/0 given is stored 0/65535, as CloudStack does);
    -- icmp: type and code, -1 meaning any; others: 0/0.
    start_port  integer NOT NULL CHECK (start_port BETWEEN -1 AND 65535),
    end_port    integer NOT NULL CHECK (end_port BETWEEN -1 AND 65535),
    cidr        cidr,
    cidr_text   text,
    allowed_group_id uuid REFERENCES security_groups(id) ON DELETE RESTRICT,
    created     timestamptz NOT NULL DEFAULT now(),
    CHECK ((cidr IS NULL) = (cidr_text IS NULL)),
    CHECK ((cidr IS NULL) <> (allowed_group_id IS NULL))
);
-- Duplicates are skipped by authorize (and a call that adds nothing new fails, as in
-- CloudStack); the index makes "skipped" race-free.
CREATE UNIQUE INDEX security_group_rules_unique_idx ON security_group_rules (
    group_id, direction, protocol, start_port, end_port,
    COALESCE(cidr_text, ''), COALESCE(allowed_group_id, '00000000-0000-0000-0000-000000000000'::uuid));
CREATE INDEX security_group_rules_allowed_idx ON security_group_rules (allowed_group_id)
    WHERE allowed_group_id IS NOT NULL;

-- A VM's groups. Kept until the VM is expunged (a destroyed VM that can still be
-- recovered keeps its groups, and keeps them from being deleted).
CREATE TABLE vm_security_groups (
    vm_id       uuid NOT NULL REFERENCES vms(id) ON DELETE CASCADE,
    group_id    uuid NOT NULL REFERENCES security_groups(id) ON DELETE RESTRICT,
    PRIMARY KEY (vm_id, group_id)
);
CREATE INDEX vm_security_groups_group_idx ON vm_security_groups (group_id);

ALTER TABLE hosts
    ADD COLUMN sg_generation bigint NOT NULL DEFAULT 0,
    ADD COLUMN sg_applied    bigint NOT NULL DEFAULT 0;

-- Every account that exists gets its default group now; new accounts get theirs in
-- the transaction that creates them.
INSERT INTO security_groups (id, name, description, account_id, domain_id, is_default)
SELECT gen_random_uuid(), 'default', 'Default Security Group', a.id, a.domain_id, true
FROM accounts a;

-- Basic zones isolate their guests with security groups from now on. VMs that exist
-- keep no group (their traffic is not filtered, only anti-spoofed) until an admin
-- or their owner puts them in groups (updateVirtualMachine securitygroupids, VM
-- stopped): putting them all in 'default' would cut every running guest off from
-- inbound traffic on upgrade.
UPDATE zones SET security_groups_enabled = true WHERE network_type = 'Basic';
