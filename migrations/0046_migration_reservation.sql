-- Issue 16: a live migration holds its destination's room from the moment it is chosen
-- (under the zone's host lock, as a deploy's placement) until the VM's record moves
-- there. Without it, two migrations, or a migration and a deploy, could both take a
-- host's last room while the memory copy runs. The hold lapses by itself at
-- migrating_until (a server that dies mid-migration leaves nothing held for ever), and
-- while it stands a second migration of the same VM is refused.
ALTER TABLE vms
    ADD COLUMN migrating_to uuid REFERENCES hosts(id) ON DELETE SET NULL,
    ADD COLUMN migrating_until timestamptz;
