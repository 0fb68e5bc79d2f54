-- Issue 17: a storage pool's state is a typed value (rules::poolstate::PoolState); the
-- column admits exactly its spellings.
ALTER TABLE storage_pools ADD CONSTRAINT storage_pools_state_known
    CHECK (state IN ('Up', 'Disabled', 'Maintenance', 'PrepareForMaintenance', 'ErrorInMaintenance'));
