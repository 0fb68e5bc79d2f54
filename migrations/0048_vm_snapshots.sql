-- Issue 16: VM snapshots (createVMSnapshot, listVMSnapshot, revertToVMSnapshot,
-- deleteVMSnapshot), as CloudStack's KVM takes them: qcow2 internal snapshots of every
-- volume of the VM (root and attached data volumes), with the guest's memory when the VM
-- runs (libvirt's internal snapshot: QEMU's savevm), disk-only when it is stopped
-- (qemu-img snapshot over NFS). The snapshot's data lives inside the volumes' own files;
-- this row is its record, and for a snapshot with memory the libvirt snapshot XML the
-- host answered, so any host can define it again (libvirt's own metadata lives on one
-- host and goes when the domain is undefined at a stop).
CREATE TABLE vm_snapshots (
    id uuid PRIMARY KEY,
    vm_id uuid NOT NULL REFERENCES vms(id),
    -- CloudStack's `name` (i-2-3-VM_VS_20261205031500) and `displayname` (the user's).
    name text NOT NULL,
    display_name text NOT NULL,
    description text,
    state text NOT NULL CHECK (state IN ('Allocated', 'Creating', 'Ready', 'Reverting',
                                         'Expunging', 'Error', 'Removed')),
    snapshot_type text NOT NULL CHECK (snapshot_type IN ('Disk', 'DiskAndMemory')),
    parent_id uuid REFERENCES vm_snapshots(id),
    is_current boolean NOT NULL DEFAULT false,
    -- libvirt's snapshot XML (DiskAndMemory), to define it again on the VM's host.
    libvirt_xml text,
    account_id uuid NOT NULL REFERENCES accounts(id),
    domain_id uuid NOT NULL REFERENCES domains(id),
    zone_id uuid NOT NULL REFERENCES zones(id),
    created timestamptz NOT NULL DEFAULT now(),
    removed timestamptz
);
CREATE INDEX vm_snapshots_vm_idx ON vm_snapshots (vm_id) WHERE removed IS NULL;
-- A display name once per VM (CloudStack refuses a second one).
CREATE UNIQUE INDEX vm_snapshots_vm_display_name_key ON vm_snapshots (vm_id, display_name)
    WHERE removed IS NULL;
-- At most one current snapshot per VM.
CREATE UNIQUE INDEX vm_snapshots_current_key ON vm_snapshots (vm_id)
    WHERE removed IS NULL AND is_current;

-- The workflow kinds: the production ones of 0026, plus the names issue 16 reserves for
-- volume snapshots (migration 0047) and VM snapshots (this one). 0047 writes the same
-- list, so the two apply in either order.
ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'VmRestore',
                    'TemplateCreate', 'HostAdd',
                    'SnapshotCreate', 'SnapshotRevert', 'SnapshotRestore', 'SnapshotDelete',
                    'VmSnapshotCreate', 'VmSnapshotRevert', 'VmSnapshotDelete'));

-- CloudStack's setting: the most VM snapshots one VM may have.
INSERT INTO configuration (name, category, description, default_value, value_type, scopes, is_dynamic, display_text) VALUES
('vmsnapshot.max', 'Advanced', 'Maximum vm snapshots for a single vm', '10', 'Integer', '{}', true, 'VM snapshot max');
