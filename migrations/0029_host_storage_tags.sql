-- Host and storage tags (issue 22): hosts carry host tags, primary pools storage tags
-- (storage_pools.tags, since 0005), service offerings ask for both (host_tags, since
-- 0007, and storage_tags, the root volume's), disk offerings for storage tags (tags).
-- Placement puts a VM only on a host carrying every host tag of its offering, and its
-- root volume only on a pool carrying every storage tag (rules/tags.rs).
--
-- Host tags are a text[] on the host row rather than a table of their own: they are an
-- attribute of the host, always read and replaced whole (addHost, updateHost), exactly
-- as storage_pools.tags already is; and placement reads them from the very rows it
-- locks (FOR UPDATE) for the capacity check, so a deploy sees a host's tags and its
-- reservations in one consistent snapshot with no join. listHostTags/listStorageTags
-- unnest them; their ids are derived from (host or pool id, tag), stable while the tag
-- is there. No index: nothing filters hosts by tag in SQL (placement matches them in
-- pure code among the zone's hosts, which it loads anyway).
--
-- The bounds the API enforces (at most 64 tags of at most 255 characters, rules/tags.rs)
-- are held here too for the count, so no path can store a huge list.
ALTER TABLE hosts ADD COLUMN tags text[] NOT NULL DEFAULT '{}'
    CONSTRAINT hosts_tags_bounded CHECK (cardinality(tags) <= 64);

-- A service offering's storage tags (CloudStack's createServiceOffering `tags`,
-- updateServiceOffering `storagetags`, ServiceOfferingResponse `storagetags`):
-- comma-separated, as host_tags.
ALTER TABLE service_offerings ADD COLUMN storage_tags text;
