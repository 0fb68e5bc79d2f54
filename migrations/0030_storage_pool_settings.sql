-- Settings at a primary storage pool's scope (CloudStack's StoragePool scope: the
-- `storageid` of listConfigurations, updateConfiguration and resetConfiguration).
-- storage.overprovisioning.factor is CloudStack's StoragePool-scoped setting; it keeps the
-- zone scope Stratus had (a pool's value, else its zone's, else the global one).
ALTER TABLE configuration_scoped DROP CONSTRAINT configuration_scoped_scope_check;
ALTER TABLE configuration_scoped ADD CONSTRAINT configuration_scoped_scope_check
    CHECK (scope IN ('zone', 'cluster', 'storagepool', 'account', 'domain'));
UPDATE configuration SET scopes = '{zone,storagepool}'
 WHERE name = 'storage.overprovisioning.factor';
