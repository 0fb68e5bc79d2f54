//! SSH key pairs through the signed API, as CloudStack answers them: create (the private
//! key answered once, matching the stored fingerprint), register, duplicate names and keys,
//! garbage keys, list filters and paging, delete, what other accounts see, and
//! deployVirtualMachine refusing a key pair its owner does not have.

use stratus_testkit::db as common;

use common::Client;
use serde_json::Value;
use ssh_key::{HashAlg, PrivateKey};
use uuid::Uuid;

const SMALL: &str = "00000000-0000-4000-8003-000000000001";
const DISK_5GB: &str = "00000000-0000-4000-8004-000000000001";

// `ssh-keygen -t ed25519 -C me@host`, and what `ssh-keygen -l -E md5` prints for it.
const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQXm8AFocGpNK+HezYSBsL/GiOEJC0uZaxe6aV3onyB me@host";
const ED25519_MD5: &str = "a6:e6:6f:98:d8:80:5d:a5:a1:2f:4e:8d:c4:93:ac:1b";

fn names(list: &Value) -> Vec<String> {
    list["sshkeypair"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|k| k["name"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// CloudStack's fingerprint of a public key: MD5 of its blob, colon-separated.
fn md5_fingerprint(k: &ssh_key::PublicKey) -> String {
    use md5::{Digest, Md5};
    Md5::digest(k.to_bytes().unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A user account `alice` and a client signed with her keys.
async fn alice(admin: &Client) -> Client {
    admin
        .ok(
            "createAccount",
            &[
                ("username", "alice"),
                ("password", "alice-pw-1"),
                ("email", "alice@example.org"),
                ("firstname", "Alice"),
                ("lastname", "Liddell"),
                ("accounttype", "0"),
            ],
        )
        .await;
    Client::for_user(admin.ctx.clone(), "alice").await
}

#[tokio::test]
async fn key_pairs_through_the_api() {
    let c = Client::admin().await;
    assert!(
        c.ok("listSSHKeyPairs", &[])
            .await
            .get("sshkeypair")
            .is_none(),
        "an empty list is {{}}"
    );

    // createSSHKeyPair: the private key once, in the object `keypair`.
    let made = c.ok("createSSHKeyPair", &[("name", "made")]).await["keypair"].clone();
    assert_eq!(made["name"], "made");
    assert_eq!(made["account"], "admin");
    assert_eq!(made["domain"], "ROOT");
    assert!(Uuid::parse_str(made["id"].as_str().unwrap()).is_ok());
    assert!(Uuid::parse_str(made["domainid"].as_str().unwrap()).is_ok());
    let private = PrivateKey::from_openssh(made["privatekey"].as_str().unwrap()).unwrap();
    assert_eq!(private.key_data().rsa().unwrap().key_size(), 2048);
    let fp = made["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fp, md5_fingerprint(private.public_key()));
    assert!(private
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string()
        .starts_with("SHA256:"));
    let listed = c.ok("listSSHKeyPairs", &[("name", "made")]).await;
    assert_eq!(listed["count"], 1);
    let item = &listed["sshkeypair"][0];
    assert_eq!(
        item["fingerprint"],
        fp.as_str(),
        "the stored key is its pair's"
    );
    assert_eq!(item["hasannotations"], false);
    assert!(
        item.get("privatekey").is_none() && item.get("publickey").is_none(),
        "lists never show keys: {item}"
    );

    // registerSSHKeyPair: comment dropped, CloudStack's fingerprint.
    let reg = c
        .ok(
            "registerSSHKeyPair",
            &[("name", "mine"), ("publickey", ED25519)],
        )
        .await["keypair"]
        .clone();
    assert_eq!(reg["fingerprint"], ED25519_MD5);
    assert!(reg.get("privatekey").is_none());

    // Duplicates: by name (create or register), and the same key under another name.
    let taken = |what: &str| format!("A key pair with {what} already exists for this account.");
    for (command, params, want) in [
        (
            "createSSHKeyPair",
            vec![("name", "mine")],
            taken("name 'mine'"),
        ),
        (
            "registerSSHKeyPair",
            vec![("name", "made"), ("publickey", ED25519)],
            taken("name 'made'"),
        ),
        (
            "registerSSHKeyPair",
            vec![("name", "again"), ("publickey", ED25519)],
            taken(&format!("key '{ED25519}'")),
        ),
    ] {
        assert_eq!(
            c.err(command, &params, 431).await,
            want,
            "{command} {params:?}"
        );
    }

    // Garbage keys and empty names.
    for bad in [
        "hello",
        "ssh-rsa AAAA",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIQX",
    ] {
        let t = c
            .err(
                "registerSSHKeyPair",
                &[("name", "bad"), ("publickey", bad)],
                431,
            )
            .await;
        assert!(t.starts_with("Public key is invalid"), "{bad}: {t}");
    }
    let t = c.err("createSSHKeyPair", &[("name", " ")], 431).await;
    assert!(t.contains("The key name can't be empty"), "{t}");
    let t = c.err("registerSSHKeyPair", &[("name", "x")], 431).await;
    assert!(t.contains("publickey"), "{t}");

    // Filters and paging (newest first, count before paging).
    for i in 0..3 {
        c.ok("createSSHKeyPair", &[("name", &format!("page-{i}"))])
            .await;
    }
    let all = c.ok("listSSHKeyPairs", &[]).await;
    assert_eq!(all["count"], 5);
    assert_eq!(names(&all), ["page-2", "page-1", "page-0", "mine", "made"]);
    let p2 = c
        .ok("listSSHKeyPairs", &[("page", "2"), ("pagesize", "2")])
        .await;
    assert_eq!(p2["count"], 5);
    assert_eq!(names(&p2), ["page-0", "mine"]);
    assert_eq!(
        names(&c.ok("listSSHKeyPairs", &[("keyword", "page")]).await),
        ["page-2", "page-1", "page-0"]
    );
    assert_eq!(
        names(&c.ok("listSSHKeyPairs", &[("keyword", "a6:e6")]).await),
        ["mine"],
        "keyword matches fingerprints too"
    );
    assert_eq!(
        names(
            &c.ok("listSSHKeyPairs", &[("fingerprint", ED25519_MD5)])
                .await
        ),
        ["mine"]
    );
    let id = reg["id"].as_str().unwrap();
    assert_eq!(
        names(&c.ok("listSSHKeyPairs", &[("id", id)]).await),
        ["mine"]
    );
    let t = c.err("listSSHKeyPairs", &[("pagesize", "2")], 431).await;
    assert!(t.contains("\"page\" parameter is required"), "{t}");

    // Another account sees none of these, may use the same names and keys, and cannot
    // touch the admin's.
    let a = alice(&c).await;
    assert!(a
        .ok("listSSHKeyPairs", &[("listall", "true")])
        .await
        .get("sshkeypair")
        .is_none());
    assert!(a
        .ok("listSSHKeyPairs", &[("id", id)])
        .await
        .get("sshkeypair")
        .is_none());
    let hers = a
        .ok(
            "registerSSHKeyPair",
            &[("name", "mine"), ("publickey", ED25519)],
        )
        .await["keypair"]
        .clone();
    assert_eq!(hers["account"], "alice");
    let t = a
        .err(
            "deleteSSHKeyPair",
            &[("name", "made"), ("account", "admin")],
            531,
        )
        .await;
    assert!(t.contains("permission denied"), "{t}");
    let t = a
        .err(
            "createSSHKeyPair",
            &[("name", "x"), ("account", "admin")],
            531,
        )
        .await;
    assert!(t.contains("permission denied"), "{t}");
    // The admin sees everyone's with listall, by account, or by id.
    assert_eq!(
        c.ok("listSSHKeyPairs", &[("listall", "true")]).await["count"],
        6
    );
    let domain = made["domainid"].as_str().unwrap();
    assert_eq!(
        names(
            &c.ok(
                "listSSHKeyPairs",
                &[("account", "alice"), ("domainid", domain)]
            )
            .await
        ),
        ["mine"]
    );
    assert_eq!(names(&c.ok("listSSHKeyPairs", &[]).await).len(), 5);
    // ... and may act for another account.
    let for_alice = c
        .ok(
            "createSSHKeyPair",
            &[
                ("name", "given"),
                ("account", "alice"),
                ("domainid", domain),
            ],
        )
        .await["keypair"]
        .clone();
    assert_eq!(for_alice["account"], "alice");
    assert_eq!(
        a.ok("listSSHKeyPairs", &[]).await["count"],
        2,
        "alice sees the key pair made for her"
    );

    // Delete: success; an unknown name gets CloudStack's text (Terraform matches on it).
    assert_eq!(
        a.ok("deleteSSHKeyPair", &[("name", "given")]).await["success"],
        true
    );
    let t = a.err("deleteSSHKeyPair", &[("name", "given")], 431).await;
    assert_eq!(
        t,
        "A key pair with name 'given' does not exist for account alice in specified domain id"
    );
    c.ok(
        "deleteSSHKeyPair",
        &[("name", "mine"), ("account", "alice"), ("domainid", domain)],
    )
    .await;
    assert!(a
        .ok("listSSHKeyPairs", &[])
        .await
        .get("sshkeypair")
        .is_none());
    assert_eq!(
        names(&c.ok("listSSHKeyPairs", &[("name", "mine")]).await),
        ["mine"],
        "the admin's own is untouched"
    );
    let t = c
        .err(
            "listSSHKeyPairs",
            &[("projectid", &Uuid::new_v4().to_string())],
            431,
        )
        .await;
    assert!(
        t.contains("projectid"),
        "a project that does not exist: refused, not ignored: {t}"
    );
    let t = c
        .err(
            "createSSHKeyPair",
            &[("name", "p"), ("projectid", &Uuid::new_v4().to_string())],
            431,
        )
        .await;
    assert!(t.contains("projectid"), "{t}");

    // listApis describes them.
    let api = c.ok("listApis", &[("name", "createSSHKeyPair")]).await;
    assert_eq!(api["api"][0]["isasync"], false);
}
async fn deploy(c: &Client, zone: &str, iso: &str, param: &str, names: &str) -> common::Answer {
    c.call(
        "deployVirtualMachine",
        &[
            ("zoneid", zone),
            ("serviceofferingid", SMALL),
            ("templateid", iso),
            ("diskofferingid", DISK_5GB),
            ("hypervisor", "KVM"),
            (param, names),
        ],
    )
    .await
}

#[tokio::test]
async fn deploy_refuses_a_key_pair_its_owner_does_not_have() {
    let c = Client::admin().await;
    let (zone, iso) = c.deployable_iso("keys-z").await;
    let a = alice(&c).await;
    c.ok(
        "registerSSHKeyPair",
        &[("name", "admins"), ("publickey", ED25519)],
    )
    .await;
    a.ok("createSSHKeyPair", &[("name", "alices")]).await;
    // An unknown name, and another account's key pair: refused before anything is made.
    let r = deploy(&c, &zone, &iso, "keypair", "nope").await;
    assert_eq!(r.status.as_u16(), 431, "{}", r.text);
    assert_eq!(
        r.errortext(),
        "A key pair with name 'nope' was not found for account admin"
    );
    let r = deploy(&a, &zone, &iso, "keypair", "admins").await;
    assert_eq!(r.status.as_u16(), 431, "{}", r.text);
    assert_eq!(
        r.errortext(),
        "A key pair with name 'admins' was not found for account alice"
    );
    let r = deploy(&a, &zone, &iso, "keypairs", "alices,nope").await;
    assert_eq!(r.status.as_u16(), 431, "{}", r.text);
    assert!(r.errortext().contains("'nope'"), "{}", r.text);
    assert!(
        c.ok("listVirtualMachines", &[("listall", "true")])
            .await
            .get("virtualmachine")
            .is_none(),
        "no VM was recorded"
    );

    // The owner's own key pairs are accepted and shown by listVirtualMachines.
    let r = deploy(&c, &zone, &iso, "keypair", "admins").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let id = r.body()["id"].as_str().unwrap().to_string();
    let vm = c.ok("listVirtualMachines", &[("id", &id)]).await;
    assert_eq!(vm["virtualmachine"][0]["keypairs"], "admins");
    let r = deploy(&a, &zone, &iso, "keypairs", "alices").await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let vm = a.ok("listVirtualMachines", &[]).await;
    assert_eq!(vm["virtualmachine"][0]["keypairs"], "alices");
}
