//! `cargo run -p rvs-ipvsemu --example ipvsemu -- ARGS...`: one ipvsadm run against an empty
//! director, or several separated by `---` against the same one.

use rvs_core::{Director, Settings, SplitMix64};

fn main() {
    let mut d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let args: Vec<String> = std::env::args().skip(1).collect();
    for line in args.split(|a| a == "---") {
        let argv: Vec<&str> = line.iter().map(String::as_str).collect();
        match rvs_ipvsemu::run_ipvsadm(&mut d, "ipvsadm", &argv, None) {
            Ok(o) => {
                print!("{}", o.stdout);
                eprint!("{}", o.stderr);
                println!("[exit {}]", o.exit_code);
            }
            Err(e) => println!("error: {e}"),
        }
    }
}
