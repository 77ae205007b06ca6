//! Compiles the BPF programs in `bpf/` with clang into OUT_DIR.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, exit};

/// (source, object, extra flags): rvs_xdp is also built with rvs_flows per-CPU, for
/// the measurement that chose the shared map (docs/xdp.md).
const PROGRAMS: &[(&str, &str, &[&str])] = &[
    ("rvs_xdp", "rvs_xdp", &[]),
    ("rvs_xdp", "rvs_xdp_percpu", &["-DRVS_FLOWS_PERCPU"]),
    ("rvs_decap", "rvs_decap", &[]),
    ("rvs_bench", "rvs_bench", &[]),
];

fn find_clang() -> Option<String> {
    if let Ok(c) = env::var("RVS_CLANG") {
        return Some(c);
    }
    ["clang-14", "clang"].iter().find_map(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| (*c).to_string())
    })
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let bpf_dir = manifest.join("../../bpf");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap_or_default());
    println!("cargo:rerun-if-env-changed=RVS_CLANG");
    println!("cargo:rerun-if-changed={}", bpf_dir.display());
    if let Ok(entries) = std::fs::read_dir(&bpf_dir) {
        for e in entries.flatten() {
            println!("cargo:rerun-if-changed={}", e.path().display());
        }
    }
    let Some(clang) = find_clang() else {
        eprintln!(
            "error: rvs-xdp needs clang to compile bpf/*.c (neither clang-14 nor clang found); \
             run `apt-get install clang-14 libbpf-dev` (or scripts/deps)"
        );
        exit(1);
    };
    if !Path::new("/usr/include/bpf/bpf_helpers.h").exists() {
        println!(
            "cargo:warning=/usr/include/bpf/bpf_helpers.h is missing: apt-get install libbpf-dev"
        );
    }
    for (prog, name, flags) in PROGRAMS {
        let src = bpf_dir.join(format!("{prog}.c"));
        let obj = out.join(format!("{name}.o"));
        let status = Command::new(&clang)
            .args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
            .args(flags.iter())
            .arg("-I/usr/include/x86_64-linux-gnu")
            .arg("-I")
            .arg(&bpf_dir)
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => {
                eprintln!(
                    "error: {clang} failed ({s}) compiling {}; if headers are missing: \
                     apt-get install clang-14 libbpf-dev",
                    src.display()
                );
                exit(1);
            }
            Err(e) => {
                eprintln!("error: cannot run {clang}: {e}; apt-get install clang-14 libbpf-dev");
                exit(1);
            }
        }
    }
}
