//! The `--rules` file: ipvsadm-save lines, `#` comments, blank lines.

use std::path::Path;

use anyhow::bail;
use rvs_config::ipvsadm::{self, Invocation};
use rvs_core::{Director, Time};

/// Apply every command of `text` to `d`; the first bad line is an error
/// `FILE:LINE:COL: message` and nothing after it is applied. Returns the number of commands.
pub fn load(d: &mut Director, path: &Path, text: &str) -> anyhow::Result<usize> {
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let col = line.len() - trimmed.len() + 1;
        let at = format!("{}:{}:{}", path.display(), i + 1, col);
        let args = ipvsadm::split_restore_line(line);
        let cmd = match ipvsadm::parse("rvsd", &args) {
            Ok(Invocation::Command(c)) => c,
            Ok(_) => bail!(
                "{at}: `{}' does not change rules: a rules file takes -A -E -D -C -a -e -d -Z \
                 --set and --add-fwmark-rule / --del-fwmark-rule",
                args.first().map_or("", String::as_str)
            ),
            Err(e) => bail!("{at}: {}", e.message.trim_end().replace('\n', " ")),
        };
        if let Err(e) = d.apply(&cmd, Time::ZERO) {
            bail!("{at}: {e}");
        }
        n += 1;
    }
    Ok(n)
}
