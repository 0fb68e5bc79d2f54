-- The embedded default stops its host's routers when it stops (Ctrl-C stops everything
-- it started: each router is a namespace with a dnsmasq) and starts them again at its
-- next start, as it does its VMs (vms.resume_on_start, 0014). The mark tells a router
-- stopped by the shutdown from one an admin stopped, which stays stopped.
ALTER TABLE routers ADD COLUMN resume_on_start boolean NOT NULL DEFAULT false;
