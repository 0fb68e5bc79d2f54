"""Apache libcloud's CloudStack driver, unmodified, against Stratus: port forwarding to a
VM of an isolated network (issue 15). Finds the node and lists its NICs (listNics),
allocates a public address in the node's network, forwards tcp 8080 to the node's port
80 (with libcloud's default openfirewall=True), lists the rule as libcloud builds it,
deletes it and releases the address. Prints one JSON line per step so the Rust test
(tests/tests/e2e_portforward_clients.rs) can check each; exits non-zero on any exception.

Usage: libcloud_portforward.py ENDPOINT_URL API_KEY SECRET_KEY ZONE VM NETWORK
"""
import json
import sys
from urllib.parse import urlparse

from libcloud.compute.providers import get_driver
from libcloud.compute.types import Provider

url, key, secret, zone_name, vm_name, network_name = sys.argv[1:7]
u = urlparse(url)
cls = get_driver(Provider.CLOUDSTACK)
driver = cls(key=key, secret=secret, host=u.hostname, port=u.port, path=u.path, secure=False)


def out(step, **kw):
    print(json.dumps({"step": step, **kw}), flush=True)


def node_named(name):
    return next(n for n in driver.list_nodes() if n.name == name)


node = node_named(vm_name)
out("node", id=node.id, private_ips=node.private_ips, public_ips=node.public_ips)
nics = driver.ex_list_nics(node)
out(
    "nics",
    nics=[
        {
            "id": n.id,
            "network_id": n.network_id,
            "ip_address": n.ip_address,
            "is_default": n.is_default,
            "mac_address": n.mac_address,
            "secondary_ip": n.extra.get("secondary_ip"),
        }
        for n in nics
    ],
)
location = next(l for l in driver.list_locations() if l.name == zone_name)
network = next(n for n in driver.ex_list_networks() if n.name == network_name)
address = driver.ex_allocate_public_ip(network_id=network.id, location=location)
out("allocated", id=address.id, address=address.address)
rule = driver.ex_create_port_forwarding_rule(
    node, address, private_port=80, public_port=8080, protocol="tcp"
)
out("created", id=rule.id)
listed = driver.ex_list_port_forwarding_rules(ipaddress_id=address.id)
out(
    "listed",
    rules=[
        {
            "id": r.id,
            "node": r.node.id,
            "address": r.address.address,
            "protocol": r.protocol,
            "public_port": r.public_port,
            "private_port": r.private_port,
            "public_end_port": r.public_end_port,
            "private_end_port": r.private_end_port,
        }
        for r in listed
    ],
)
# The node as list_nodes answers it now carries the rule (libcloud removes it from there).
node = node_named(vm_name)
mine = next(r for r in node.extra["port_forwarding_rules"] if r.id == rule.id)
ok = driver.ex_delete_port_forwarding_rule(node, mine)
left = [r.id for r in driver.ex_list_port_forwarding_rules(ipaddress_id=address.id)]
out("deleted", ok=ok, left=left)
ok = driver.ex_release_public_ip(address)
left = [a.id for a in driver.ex_list_public_ips() if a.id == address.id]
out("released", ok=ok, left=left)
