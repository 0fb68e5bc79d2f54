"""Apache libcloud's CloudStack driver, unmodified, against Stratus with a template: the
template is found in list_images(), create_node() deploys a started node from it with a
key pair, and the node is found in list_nodes() Running with its address; `destroy`
destroys it with expunge. Prints one JSON line per step so the Rust test can check each
(the test logs in to the node over SSH between the two); exits non-zero on any exception.

Usage: libcloud_templates.py create ENDPOINT_URL API_KEY SECRET_KEY TEMPLATE_ID SIZE_NAME KEYPAIR NAME
       libcloud_templates.py destroy ENDPOINT_URL API_KEY SECRET_KEY NODE_ID
"""
import json
import sys
import time
from urllib.parse import urlparse

from libcloud.compute.providers import get_driver
from libcloud.compute.types import NodeState, Provider

action, url, key, secret = sys.argv[1:5]
u = urlparse(url)
cls = get_driver(Provider.CLOUDSTACK)
driver = cls(key=key, secret=secret, host=u.hostname, port=u.port, path=u.path, secure=False)


def out(step, **kw):
    print(json.dumps({"step": step, **kw}), flush=True)


if action == "create":
    template_id, size_name, keypair, name = sys.argv[5:9]
    images = driver.list_images()
    out("images", ids=[i.id for i in images], names=[i.name for i in images])
    image = next(i for i in images if i.id == template_id)
    size = next(s for s in driver.list_sizes() if s.name == size_name)
    location = driver.list_locations()[0]
    node = driver.create_node(
        name=name,
        size=size,
        image=image,
        location=location,
        ex_keyname=keypair,
        ex_start_vm=True,
    )
    out("created", id=node.id, state=node.state)
    deadline = time.time() + 120
    while True:
        nodes = [n for n in driver.list_nodes() if n.id == node.id]
        if nodes and nodes[0].state == NodeState.RUNNING and nodes[0].private_ips:
            break
        if time.time() > deadline:
            raise SystemExit("node never reached RUNNING: %r" % nodes)
        time.sleep(1)
    n = nodes[0]
    out("running", id=n.id, name=n.name, private_ips=n.private_ips, image=n.extra.get("image_id"))
elif action == "destroy":
    node_id = sys.argv[5]
    n = next(x for x in driver.list_nodes() if x.id == node_id)
    ok = driver.destroy_node(n, ex_expunge=True)
    out("destroyed", ok=ok, left=[x.id for x in driver.list_nodes() if x.id == node_id])
else:
    raise SystemExit("unknown action %r" % action)
