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
-- nftables table and loads it atomically). `sg_host_state.generation` counts changes
-- that touch any VM of the host (a rule of a group one of its VMs is in, or of a
-- group whose rules reference a group one of its VMs is in; a member starting,
-- stopping or moving; the triggers below); `applied` is the generation the agent last
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
    -- clock_timestamp(): the rules one authorize adds are listed in the order given.
    created     timestamptz NOT NULL DEFAULT clock_timestamp(),
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

-- What each host has been asked to enforce (`generation`, raised by every change that
-- touches one of its guests' filters) and has confirmed (`applied`). A table of its own,
-- not columns of `hosts`: VM state changes raise it from a trigger, and host rows are
-- what placement locks and heartbeats update.
CREATE TABLE sg_host_state (
    host_id     uuid PRIMARY KEY REFERENCES hosts(id) ON DELETE CASCADE,
    generation  bigint NOT NULL DEFAULT 1,
    applied     bigint NOT NULL DEFAULT 0,
    applied_at  timestamptz,
    -- The last push's failure (NULL after a success), for listHosts/the console.
    error       text
);

-- Raise the generation of these hosts (creating their row on first use).
CREATE FUNCTION sg_touch_hosts(ids uuid[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO sg_host_state (host_id)
    SELECT DISTINCT h FROM unnest(ids) h WHERE h IS NOT NULL
    ORDER BY 1
    ON CONFLICT (host_id) DO UPDATE SET generation = sg_host_state.generation + 1
$$;

-- The hosts running a member of these groups (a rule of the group changed: its
-- members' filters change).
CREATE FUNCTION sg_hosts_running(groups uuid[]) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT h), '{}') FROM (
        SELECT unnest(ARRAY[v.host_id, v.migrating_to]) AS h
        FROM vm_security_groups m JOIN vms v ON v.id = m.vm_id
        WHERE m.group_id = ANY(groups) AND v.state IN ('Starting', 'Running', 'Stopping')
    ) x WHERE h IS NOT NULL
$$;

-- The hosts running a member of a group whose rules name one of these groups (a member
-- of these groups came or went: the address sets those rules use change). Only groups
-- that are named at all are looked at, so a VM whose groups no rule names costs one
-- index probe.
CREATE FUNCTION sg_hosts_referencing(groups uuid[]) RETURNS uuid[] LANGUAGE sql STABLE AS $$
    SELECT sg_hosts_running(coalesce(array_agg(DISTINCT r.group_id), '{}'))
    FROM security_group_rules r WHERE r.allowed_group_id = ANY(groups)
$$;

-- A VM arriving on or leaving a host (state, host, migration target) changes that
-- host's filter, and the address sets of its groups on every host that references them.
CREATE FUNCTION sg_vm_moved() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    groups uuid[];
BEGIN
    SELECT coalesce(array_agg(group_id), '{}') INTO groups
    FROM vm_security_groups WHERE vm_id = NEW.id;
    PERFORM sg_touch_hosts(ARRAY[OLD.host_id, NEW.host_id, OLD.migrating_to, NEW.migrating_to]
                           || sg_hosts_referencing(groups));
    RETURN NULL;
END $$;
CREATE TRIGGER vms_sg_moved AFTER UPDATE OF state, host_id, migrating_to ON vms
    FOR EACH ROW
    WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.host_id IS DISTINCT FROM NEW.host_id
          OR OLD.migrating_to IS DISTINCT FROM NEW.migrating_to)
    EXECUTE FUNCTION sg_vm_moved();

-- A VM joining or leaving a group.
CREATE FUNCTION sg_membership_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    m record;
BEGIN
    IF TG_OP = 'DELETE' THEN m := OLD; ELSE m := NEW; END IF;
    PERFORM sg_touch_hosts(
        (SELECT ARRAY[v.host_id, v.migrating_to] FROM vms v WHERE v.id = m.vm_id)
        || sg_hosts_referencing(ARRAY[m.group_id]));
    RETURN NULL;
END $$;
CREATE TRIGGER vm_security_groups_changed AFTER INSERT OR DELETE ON vm_security_groups
    FOR EACH ROW EXECUTE FUNCTION sg_membership_changed();

-- A rule added or revoked: the hosts running members of its group.
CREATE FUNCTION sg_rule_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM sg_touch_hosts(sg_hosts_running(ARRAY[r.group_id]));
    RETURN NULL;
END $$;
CREATE TRIGGER security_group_rules_changed AFTER INSERT OR DELETE ON security_group_rules
    FOR EACH ROW EXECUTE FUNCTION sg_rule_changed();

-- Every account gets its default group with it, whichever path creates it
-- (createAccount, a project's own account, the seed), and every account that exists
-- gets one now.
CREATE FUNCTION sg_default_group() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO security_groups (id, name, description, account_id, domain_id, is_default)
    VALUES (gen_random_uuid(), 'default', 'Default Security Group', NEW.id, NEW.domain_id, true);
    RETURN NULL;
END $$;
CREATE TRIGGER accounts_sg_default AFTER INSERT ON accounts
    FOR EACH ROW EXECUTE FUNCTION sg_default_group();

INSERT INTO security_groups (id, name, description, account_id, domain_id, is_default)
SELECT gen_random_uuid(), 'default', 'Default Security Group', a.id, a.domain_id, true
FROM accounts a;

-- Basic zones isolate their guests with security groups from now on. VMs that exist
-- keep no group (their traffic is not filtered, only anti-spoofed) until an admin
-- or their owner puts them in groups (updateVirtualMachine securitygroupids, VM
-- stopped): putting them all in 'default' would cut every running guest off from
-- inbound traffic on upgrade.
ALTER TABLE zones DROP CONSTRAINT zones_no_security_groups;
UPDATE zones SET security_groups_enabled = (network_type = 'Basic');
-- Advanced zones with security groups (CloudStack's "advanced SG" zones) are not built.
ALTER TABLE zones ADD CONSTRAINT zones_security_groups_basic
    CHECK (security_groups_enabled = (network_type = 'Basic'));
