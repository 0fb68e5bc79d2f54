-- Issue 16: data volumes (DATADISK), owned by an account as CloudStack's are, whether or
-- not attached. A data volume is recorded by createVolume with the pool it will live on
-- (so the pool's allocated capacity counts it at once) and stays Allocated until its
-- first attach creates its file there (CloudStack creates it lazily too); then Ready.
-- A root volume's owner is its VM's, backfilled here; new root volumes take theirs from
-- the VM as they are inserted.
ALTER TABLE volumes
    ADD COLUMN account_id uuid REFERENCES accounts(id),
    ADD COLUMN domain_id uuid REFERENCES domains(id),
    ADD COLUMN zone_id uuid REFERENCES zones(id),
    -- A data volume's own offering (a root volume's is its VM's).
    ADD COLUMN disk_offering_id uuid REFERENCES disk_offerings(id),
    -- CloudStack's deviceid on its VM: 0 the root volume, data volumes 1, 2, 4… (3 is
    -- the CD-ROM's on KVM); none while detached.
    ADD COLUMN device_id int CHECK (device_id >= 0);

UPDATE volumes vol SET account_id = v.account_id, domain_id = v.domain_id, zone_id = v.zone_id,
       device_id = CASE WHEN vol.volume_type = 'ROOT' THEN 0 END
  FROM vms v WHERE v.id = vol.vm_id;
UPDATE volumes vol SET zone_id = p.zone_id FROM storage_pools p
 WHERE p.id = vol.pool_id AND vol.zone_id IS NULL;

-- One volume per device of a VM.
CREATE UNIQUE INDEX volumes_vm_device_key ON volumes (vm_id, device_id)
    WHERE removed IS NULL AND vm_id IS NOT NULL AND device_id IS NOT NULL;
CREATE INDEX volumes_account_idx ON volumes (account_id) WHERE removed IS NULL;
ALTER TABLE volumes ADD CONSTRAINT volumes_data_owned
    CHECK (volume_type = 'ROOT' OR (account_id IS NOT NULL AND domain_id IS NOT NULL));
ALTER TABLE volumes ADD CONSTRAINT volumes_attached_device
    CHECK (vm_id IS NULL OR volume_type = 'ROOT' OR device_id IS NOT NULL);
