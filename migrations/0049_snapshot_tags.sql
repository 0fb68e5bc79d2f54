-- Issue 16: resource tags on volume snapshots and VM snapshots, as CloudStack's
-- ResourceObjectType has them (Snapshot, VMSnapshot). Their tags go with them: the
-- statements that remove a snapshot delete its tags (db::tags::drop_tags_sql).
ALTER TABLE resource_tags DROP CONSTRAINT resource_tags_resource_type_check;
ALTER TABLE resource_tags ADD CONSTRAINT resource_tags_resource_type_check
    CHECK (resource_type IN ('UserVm', 'Volume', 'Template', 'ISO',
                             'Network', 'Project', 'Account', 'User',
                             'Snapshot', 'VMSnapshot'));
