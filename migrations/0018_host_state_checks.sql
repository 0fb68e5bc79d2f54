-- Host states as the server's enums know them (management/src/rules/hoststate.rs): the
-- CHECK constraints of 0003 also allowed CloudStack states Stratus never writes
-- ('Creating', 'Removed', 'Error' as status; 'Creating' as resource state). Rows now
-- decode straight into the enums, so the schema admits exactly the enums' spellings.

ALTER TABLE hosts DROP CONSTRAINT IF EXISTS hosts_status_check;
ALTER TABLE hosts ADD CONSTRAINT hosts_status_check
    CHECK (status IN ('Connecting', 'Up', 'Disconnected', 'Alert', 'Down'));

ALTER TABLE hosts DROP CONSTRAINT IF EXISTS hosts_resource_state_check;
ALTER TABLE hosts ADD CONSTRAINT hosts_resource_state_check
    CHECK (resource_state IN ('Enabled', 'Disabled', 'PrepareForMaintenance',
           'ErrorInPrepareForMaintenance', 'Maintenance', 'ErrorInMaintenance'));
