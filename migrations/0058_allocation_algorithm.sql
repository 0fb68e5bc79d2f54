-- vm.allocation.algorithm is read now (issue 20, rules::placement::Algorithm), with
-- every CloudStack value. Its default is the order placement has always used (the most
-- free memory first), not CloudStack's 'random': deterministic and spreading.
UPDATE configuration
   SET default_value = 'firstfitleastconsumed',
       description = '''firstfitleastconsumed'' (the most free memory first), ''firstfit'' (host order), ''random'', ''userdispersing'' (fewest of the account''s VMs first), ''userconcentratedpod_random'', ''userconcentratedpod_firstfit'' (the pods with most of the account''s VMs first): the order in which the hosts that fit are tried for a VM.'
 WHERE name = 'vm.allocation.algorithm';
