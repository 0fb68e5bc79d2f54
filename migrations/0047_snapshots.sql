-- Issue 16: volume snapshots, CloudStack's: a point-in-time copy of a volume (root or
-- data) backed up to the zone's secondary storage, so that it survives the loss of the
-- primary pool. A snapshot row is recorded Allocated by createSnapshot (its id answered
-- with the job's), then Creating, BackingUp, BackedUp; a failure leaves it Error, and
-- deleteSnapshot marks it Destroyed with `removed` set. Its owner is the volume's.
CREATE TABLE snapshots (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    account_id     uuid NOT NULL REFERENCES accounts(id),
    domain_id      uuid NOT NULL REFERENCES domains(id),
    volume_id      uuid NOT NULL REFERENCES volumes(id),
    zone_id        uuid NOT NULL REFERENCES zones(id),
    -- Where its file is (none before the backup chose a store).
    image_store_id uuid REFERENCES image_stores(id),
    install_path   text,
    -- Bytes the file takes on secondary storage; the volume's size when taken.
    physical_size  bigint NOT NULL DEFAULT 0 CHECK (physical_size >= 0),
    virtual_size   bigint NOT NULL CHECK (virtual_size >= 0),
    state          text NOT NULL CHECK (state IN ('Allocated', 'Creating', 'BackingUp',
                                                  'BackedUp', 'Error', 'Destroyed')),
    interval_type  text NOT NULL DEFAULT 'MANUAL'
                   CHECK (interval_type IN ('MANUAL', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY')),
    policy_id      uuid,
    -- The policy slot it was taken for (a policy's snapshot at most once per slot, whatever
    -- number of management servers run the reconciler).
    slot           timestamptz,
    error_text     text,
    created        timestamptz NOT NULL DEFAULT now(),
    removed        timestamptz
);
CREATE INDEX snapshots_volume_idx ON snapshots (volume_id) WHERE removed IS NULL;
CREATE INDEX snapshots_account_idx ON snapshots (account_id) WHERE removed IS NULL;
CREATE UNIQUE INDEX snapshots_policy_slot_key ON snapshots (policy_id, slot)
    WHERE policy_id IS NOT NULL AND slot IS NOT NULL;

-- Snapshot policies (createSnapshotPolicy): one per volume and interval type, as
-- CloudStack; `schedule` is CloudStack's "MM", "MM:HH" or "MM:HH:DD".
CREATE TABLE snapshot_policies (
    id            uuid PRIMARY KEY,
    volume_id     uuid NOT NULL REFERENCES volumes(id),
    interval_type text NOT NULL CHECK (interval_type IN ('HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY')),
    schedule      text NOT NULL,
    timezone      text NOT NULL,
    max_snaps     int NOT NULL CHECK (max_snaps > 0),
    display       boolean NOT NULL DEFAULT true,
    -- The last slot the reconciler took (or decided to skip).
    last_slot     timestamptz,
    created       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX snapshot_policies_volume_interval_key
    ON snapshot_policies (volume_id, interval_type);

-- The workflow kinds: exactly those of 0026 plus the snapshot kinds of issue 16 (volume
-- snapshots here, VM snapshots in 0048, which writes the same full list: either order).
ALTER TABLE workflows DROP CONSTRAINT IF EXISTS workflows_kind_check;
ALTER TABLE workflows ADD CONSTRAINT workflows_kind_check
    CHECK (kind IN ('VmDeploy', 'VmStart', 'VmReboot', 'VmExpunge', 'VmRestore',
                    'TemplateCreate', 'HostAdd',
                    'SnapshotCreate', 'SnapshotRevert', 'SnapshotRestore', 'SnapshotDelete',
                    'VmSnapshotCreate', 'VmSnapshotRevert', 'VmSnapshotDelete'));
