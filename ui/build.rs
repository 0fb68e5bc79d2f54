//! The templates live in the workspace's `templates/`, outside this crate: tell cargo to
//! rebuild the views when one changes (askama compiles them into the binary).
fn main() {
    println!("cargo:rerun-if-changed=../templates");
    println!("cargo:rerun-if-changed=static");
}
