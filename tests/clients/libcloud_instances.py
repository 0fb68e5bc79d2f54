"""Apache libcloud's CloudStack driver, unmodified, against Stratus: list locations and
sizes, create a node from an ISO (libcloud creates it stopped), start it, find it in
list_nodes with its address, destroy it with expunge. (No reboot: libcloud's is a
graceful one, which iPXE ignores until the 60 s timeout.) Prints one JSON line per step so
the Rust test can check each; exits non-zero on any exception.

Usage: libcloud_instances.py ENDPOINT_URL API_KEY SECRET_KEY ISO_ID DISK_OFFERING_ID
"""
import json
import sys
import time
from urllib.parse import urlparse

from libcloud.compute.base import NodeImage
from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider

url, key, secret, iso_id, disk_offering_id = sys.argv[1:6]
u = urlparse(url)
cls = get_driver(Provider.CLOUDSTACK)
driver = cls(key=key, secret=secret, host=u.hostname, port=u.port, path=u.path, secure=False)


def out(step, **kw):
    print(json.dumps({"step": step, **kw}), flush=True)


locations = driver.list_locations()
out("locations", names=[l.name for l in locations])
sizes = driver.list_sizes()
out("sizes", names=[s.name for s in sizes])
size = next(s for s in sizes if s.name == "Small Instance")
offering = next(d for d in driver.ex_list_disk_offerings() if d.id == disk_offering_id)
node = driver.create_node(
    name="lc1",
    size=size,
    image=NodeImage(id=iso_id, name="ipxe", driver=driver),
    location=locations[0],
    diskoffering=offering,
)
out("created", id=node.id, state=node.state)
driver.ex_start(node)
deadline = time.time() + 90
while True:
    nodes = [n for n in driver.list_nodes() if n.id == node.id]
    if nodes and nodes[0].state == NodeState.RUNNING:
        break
    if time.time() > deadline:
        raise SystemExit("node never reached RUNNING: %r" % nodes)
    time.sleep(1)
n = nodes[0]
out("running", id=n.id, name=n.name, private_ips=n.private_ips, public_ips=n.public_ips)
ok = driver.destroy_node(n, ex_expunge=True)
out("destroyed", ok=ok, left=[x.id for x in driver.list_nodes() if x.id == n.id])
