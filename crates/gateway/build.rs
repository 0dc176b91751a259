//! Rebuilds the crate when a file of the embedded web client changes, is
//! added or removed: rust-embed only tracks the files it saw last time.

fn main() {
    println!("cargo:rerun-if-changed=web");
}
