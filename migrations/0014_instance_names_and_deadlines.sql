-- Instance names unique per cloud, and the time a host gets to start a VM.
--
-- `instance.name` is CloudStack's "name of the deployment instance": the last part of
-- every VM's instance name (i-<account>-<number>-<instance.name>), which is also its
-- libvirt domain name. CloudStack's default is "VM"; two clouds that both use it give
-- their first VMs the same domain name, so a cloud started afresh on a machine whose
-- libvirt still holds an older cloud's guests could not deploy. A cloud with no VM yet
-- gets its own name here (VM plus four hex digits); clouds with VMs keep "VM". Each VM
-- keeps the suffix it was created with, so changing the setting renames no domain.
INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('instance.name', 'Advanced', 'Name of the deployment instance: the last part of instance names (i-<account>-<number>-<instance.name>), which are the hosts'' domain names', 'VM', 'String', '{}', true, 'Instance name'),
('vm.start.timeout', 'Advanced', 'Seconds a host gets to define and start a VM; past it the start fails with the reason, and a domain the host finishes starting later is destroyed', '120', 'Integer', '{}', true, 'VM start timeout');

UPDATE configuration SET value = 'VM' || substr(md5(random()::text || clock_timestamp()::text), 1, 4)
WHERE name = 'instance.name' AND NOT EXISTS (SELECT 1 FROM vms);

ALTER TABLE vms ADD COLUMN instance_suffix text NOT NULL DEFAULT 'VM'
    CHECK (instance_suffix ~ '^[A-Za-z0-9-]{1,32}$');

-- The embedded default stops its own host's guests when it stops (their storage goes
-- with it) and starts them again at its next start: these are the VMs to start.
ALTER TABLE vms ADD COLUMN resume_on_start boolean NOT NULL DEFAULT false;
