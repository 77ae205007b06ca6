//! Replays the `control_request` fuzz corpus (fuzz/corpus/control_request): every input is
//! read as the control socket would read it, and ipvsadm requests are run.

use rvs_control::{Request, exec, frame};

#[test]
fn control_request_corpus() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/control_request");
    let mut n = 0;
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let data = std::fs::read(entry.expect("entry").path()).expect("read");
        let mut r = &data[..];
        let mut d = rvs_core::Director::new(
            rvs_core::Settings::default(),
            1,
            Box::new(rvs_core::SplitMix64(1)),
        );
        for _ in 0..8 {
            let Ok(req) = frame::read::<_, Request>(&mut r) else {
                break;
            };
            if let Request::Ipvsadm { argv0, args, stdin } = req {
                let _ = exec::run(
                    &mut d,
                    &argv0,
                    &args,
                    stdin.as_deref(),
                    rvs_core::Time::ZERO,
                );
                ran += 1;
            }
        }
        n += 1;
    }
    assert!(n >= 3 && ran >= 4, "{n} inputs, {ran} requests run");
}
