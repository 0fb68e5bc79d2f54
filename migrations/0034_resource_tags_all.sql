-- Issue 22 item 5: resource tags on every resource type Stratus has that CloudStack's
-- ResourceObjectType marks taggable: besides VMs, volumes, ISOs and templates, guest
-- networks, projects, accounts and users. (CloudStack refuses tags on zones, offerings,
-- primary storage and domains: they take resource details and icons only, so Stratus
-- refuses them too.)
ALTER TABLE resource_tags DROP CONSTRAINT resource_tags_resource_type_check;
ALTER TABLE resource_tags ADD CONSTRAINT resource_tags_resource_type_check
    CHECK (resource_type IN ('UserVm', 'Volume', 'Template', 'ISO',
                             'Network', 'Project', 'Account', 'User'));

-- Tags no longer outlive their resource: the statements that remove one for good delete
-- its tags (db::tags::drop_tags_sql), so listTags no longer has to hide them. Those left
-- behind before are deleted here once: of expunged VMs and volumes, of removed ISOs and
-- templates, of rows that are gone.
DELETE FROM resource_tags t
 WHERE (t.resource_type = 'UserVm'
        AND NOT EXISTS (SELECT 1 FROM vms v WHERE v.id = t.resource_id AND v.removed IS NULL))
    OR (t.resource_type = 'Volume'
        AND NOT EXISTS (SELECT 1 FROM volumes o WHERE o.id = t.resource_id AND o.state <> 'Expunged'))
    OR (t.resource_type = 'ISO'
        AND NOT EXISTS (SELECT 1 FROM isos i WHERE i.id = t.resource_id AND i.removed IS NULL))
    OR (t.resource_type = 'Template'
        AND NOT EXISTS (SELECT 1 FROM templates p WHERE p.id = t.resource_id AND p.removed IS NULL));
