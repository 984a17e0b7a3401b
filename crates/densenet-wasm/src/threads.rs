//! Threads where the platform gives them: the module built with `+atomics` (shared memory;
//! scripts/build-wasm.sh's threaded build) runs rayon's global pool on JS workers (Web Workers in
//! a cross-origin-isolated page, `worker_threads` in Node), the same rayon code as the native
//! backend, so results are bit-identical for any thread count (the kernels split work into fixed
//! groups, never by thread).
//!
//! wasm32 has no `std::thread::spawn`: JS starts the workers first, each on the same module and
//! memory, and each calls `runThread()`, which waits for a rayon `ThreadBuilder`; then
//! `startThreadPool(n)` hands rayon's n builders to the waiting workers and returns once all run
//! (rayon's `build_global` waits for them). Workers must be running before that call: a browser
//! cannot start a worker while its parent thread is blocked. The pool is built once, before the
//! first computation (the JS loaders do it).
//!
//! In the single-threaded build (no `atomics`) there is no pool: rayon runs on the caller.

#[cfg(target_feature = "atomics")]
mod pool {
    use std::sync::{Condvar, Mutex};
    use wasm_bindgen::prelude::*;

    /// rayon's thread builders not yet taken by a worker.
    static WAITING: Mutex<Vec<rayon::ThreadBuilder>> = Mutex::new(Vec::new());
    static HANDED_OUT: Condvar = Condvar::new();

    /// Starts rayon's global pool with `threads` workers, run by the `threads` JS workers that
    /// are already waiting in `runThread()`. Returns when all of them run rayon's loop.
    #[wasm_bindgen(js_name = startThreadPool)]
    pub fn start_thread_pool(threads: u32) -> Result<(), JsValue> {
        if !(2..=256).contains(&threads) {
            return crate::sync(Err(crate::invalid_arg(format!("a thread pool needs 2..=256 threads, got {threads}"))));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .spawn_handler(|thread| {
                WAITING.lock().map_err(|_| std::io::Error::other("the thread queue is poisoned"))?.push(thread);
                HANDED_OUT.notify_one();
                Ok(())
            })
            .build_global()
            .map_err(|e| crate::js_error(&crate::invalid_arg(format!("cannot start the WASM thread pool: {e}"))))?;
        crate::on_pool::pool_started();
        Ok(())
    }

    /// A JS worker's body: waits for one of rayon's thread builders and runs rayon's worker loop
    /// on it (until the process or page ends).
    #[wasm_bindgen(js_name = runThread)]
    pub fn run_thread() {
        let thread = {
            let mut waiting = WAITING.lock().expect("the thread queue is poisoned");
            loop {
                if let Some(t) = waiting.pop() {
                    break t;
                }
                waiting = HANDED_OUT.wait(waiting).expect("the thread queue is poisoned");
            }
        };
        thread.run();
    }
}

/// Whether this module was built with threads (shared memory, a pool on JS workers).
#[wasm_bindgen::prelude::wasm_bindgen(js_name = threadsSupported)]
pub fn threads_supported() -> bool {
    cfg!(target_feature = "atomics")
}
