-- Indexes for the per-host sums over `vms` that listHosts, placement and the console's
-- pages run for every host they show (issue 17's benchmark rerun found them scanning
-- the whole table once per host: listHosts' page of 100 at 1,000 hosts and 10,000 VMs
-- took 218 ms, a placement 800 ms, an instance's console page 3.9 s).
--
-- vms_total / vms_running count a host's VMs that are not removed; the partial index of
-- 0009 covers only the states that reserve capacity.
CREATE INDEX vms_host_present_idx ON vms (host_id) WHERE removed IS NULL;
-- A live migration's hold on its destination (0046): placement sums what is held on
-- each candidate host.
CREATE INDEX vms_migrating_to_idx ON vms (migrating_to) WHERE migrating_to IS NOT NULL;
