//! Running one rtnetlink conversation to completion from blocking code.

use std::future::Future;

use rtnetlink::Handle;

use crate::NetlinkError;

/// Open an rtnetlink connection, run `f` with its handle, close it. The socket is created
/// on the calling thread (so in its network namespace); from inside a tokio runtime the
/// work moves to a scoped thread, which inherits the namespace.
pub(crate) fn run<T, F, Fut>(f: F) -> Result<T, NetlinkError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, NetlinkError>>,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("rvs-netlink".into())
                .spawn_scoped(s, || run_here(f))?
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
    }
    run_here(f)
}

fn run_here<T, F, Fut>(f: F) -> Result<T, NetlinkError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, NetlinkError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let (conn, handle, _events) = rtnetlink::new_connection()?;
        let task = tokio::spawn(conn);
        let out = f(handle).await;
        task.abort();
        out
    })
}
