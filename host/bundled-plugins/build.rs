//! Compiles the first-party plugins (and the test and template plugins) to WebAssembly
//! components with a nested `cargo build --target wasm32-wasip2`, in a target directory of
//! their own so the outer build's lock is not contended. The components are embedded in
//! the PBX binary, so a fresh install has them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Packages built to wasm: (package, component file stem).
const PACKAGES: &[(&str, &str)] = &[
    ("pbx-plugin-ivr", "pbx_plugin_ivr"),
    ("pbx-plugin-time-rules", "pbx_plugin_time_rules"),
    ("pbx-plugin-name-lookup", "pbx_plugin_name_lookup"),
    ("pbx-plugin-queue", "pbx_plugin_queue"),
    ("pbx-plugin-bitrix24", "pbx_plugin_bitrix24"),
    ("pbx-plugin-template", "pbx_plugin_template"),
    ("test-plugin-spin", "test_plugin_spin"),
    ("test-plugin-hog", "test_plugin_hog"),
    ("test-plugin-crash", "test_plugin_crash"),
    ("test-plugin-garbage", "test_plugin_garbage"),
    ("test-plugin-snoop", "test_plugin_snoop"),
    ("test-plugin-fetch", "test_plugin_fetch"),
    ("test-plugin-crm", "test_plugin_crm"),
    ("test-plugin-legacy", "test_plugin_legacy"),
];

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.join("../..");
    for dir in ["sdk", "wit", "plugins", "tests/plugins", "examples/plugin-template", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let target_dir = std::env::var_os("PBX_WASM_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // target/<profile>/build/<pkg>/out → target/wasm
        out.ancestors().nth(4).map(|t| t.join("wasm")).unwrap_or_else(|| out.join("wasm"))
    });
    println!("cargo:rerun-if-env-changed=PBX_WASM_TARGET_DIR");
    ensure_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root).arg("build").arg("--release").arg("--locked").arg("--target").arg(TARGET).arg("--target-dir").arg(&target_dir);
    for (package, _) in PACKAGES {
        cmd.arg("-p").arg(package);
    }
    for c in [
        "profile.release.debug=false",
        "profile.release.strip=true",
        "profile.release.opt-level=\"s\"",
        "profile.release.codegen-units=4",
        "profile.release.panic=\"abort\"",
        // A 128 KiB stack instead of the default 1 MiB keeps an instance's linear memory
        // (stack + data + heap) well under 1 MiB.
        "target.wasm32-wasip2.rustflags=[\"-Clink-arg=-zstack-size=131072\"]",
    ] {
        cmd.arg("--config").arg(c);
    }
    // The outer build's settings must not leak into a build for another target.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("building the plugins for {TARGET} failed ({s}); see the output above")),
        Err(e) => fail(&format!("cannot run cargo to build the plugins: {e}")),
    }
    let built = target_dir.join(TARGET).join("release");
    let mut code = String::new();
    for (package, stem) in PACKAGES {
        let from = built.join(format!("{stem}.wasm"));
        let to = out.join(format!("{stem}.wasm"));
        if let Err(e) = std::fs::copy(&from, &to) {
            fail(&format!("{package}: {} missing: {e}", from.display()));
        }
    }
    code.push_str(&format!("/// Where the test plugins' components are.\npub const WASM_DIR: &str = {:?};\n", out.display().to_string()));
    if let Err(e) = std::fs::write(out.join("paths.rs"), code) {
        fail(&format!("cannot write paths.rs: {e}"));
    }
}

/// Installs the wasm32-wasip2 target with rustup when it is missing, so `cargo run` works
/// on a fresh machine.
fn ensure_target() {
    let sysroot = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.as_deref().map(|s| s.join("lib/rustlib").join(TARGET)).is_some_and(|p| Path::new(&p).exists());
    if installed {
        return;
    }
    println!("cargo:warning=installing the {TARGET} target with rustup (needed to build the plugins)");
    let ok = Command::new("rustup").args(["target", "add", TARGET]).status().is_ok_and(|s| s.success());
    if !ok {
        fail(&format!("the {TARGET} target is missing: run `rustup target add {TARGET}`"));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
