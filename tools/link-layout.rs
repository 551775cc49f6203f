//! The build script of every function (and of the bench's floor): their release builds link
//! with tools/hot-text.ld, the layout that puts the code they run before the code they do not
//! (make hot-text; docs/performance.md, "Memory"). A build script gives the linker the
//! script's absolute path (compiler flags in .cargo/config.toml cannot: relative paths there
//! resolve against whatever directory cargo compiles a crate in) and makes the script an
//! input, so that a new layout links the functions again.

use std::{env, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    // A build from a copy of the function's directory alone (a builder that copies sources)
    // finds no layout: the program is the same without it, only laid out as the linker likes.
    let Some(script) = manifest
        .ancestors()
        .map(|dir| dir.join("tools/hot-text.ld"))
        .find(|path| path.exists())
    else {
        println!("cargo:warning=tools/hot-text.ld not found: linked without the layout");
        return;
    };
    println!("cargo:rerun-if-changed={}", script.display());
    let release = env::var("PROFILE").as_deref() == Ok("release");
    let linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    if release && linux {
        println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
    }
}
