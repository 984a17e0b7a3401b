//! The MPI variant of the addon (cargo feature `mpi`): MPI initialized once per process, the
//! world communicator as a core `Collective`, and what the TypeScript training loop needs
//! (rank, size, a data-parallel train step, a barrier, finalize).
//!
//! Threading: the steps run on libuv workers inside a rayon pool, so MPI calls come from
//! different threads over time, never at once (one lock around every call): MPI is
//! initialized with MPI_THREAD_SERIALIZED.
//!
//! Sums: MPI_Allreduce does not promise the same bits on every rank for every algorithm, so a
//! sum is a reduce to rank 0 followed by a broadcast of rank 0's result: every rank holds the
//! same bits and the weights stay bit-identical.

use crate::errors::{invalid_arg, sync};
use crate::session::with;
use crate::tasks::Job;
use crate::{step_result, to_shape, NativeModel, StepResult};
use densenet_core::{Collective, Error as CoreError, Result as CoreResult, StepOutput};
use mpi::collective::SystemOperation;
use mpi::environment::{Threading, Universe};
use mpi::traits::*;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Mutex;

/// The MPI environment; None before `mpiInit` and after `mpiFinalize`.
static UNIVERSE: Mutex<Option<Universe>> = Mutex::new(None);

fn locked<R>(f: impl FnOnce(&Universe) -> CoreResult<R>) -> CoreResult<R> {
    let guard = UNIVERSE.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_ref() {
        Some(u) => f(u),
        None => Err(invalid_arg("MPI is not initialized (call mpiInit first) or was finalized")),
    }
}

/// The world communicator as the core's host collective.
struct World;

impl World {
    fn sum<T: Equivalence + Copy + Default>(&self, buf: &mut [T]) -> CoreResult<()> {
        locked(|u| {
            let world = u.world();
            let root = world.process_at_rank(0);
            if world.rank() == 0 {
                let mut total = vec![T::default(); buf.len()];
                root.reduce_into_root(&*buf, &mut total[..], SystemOperation::sum());
                buf.copy_from_slice(&total);
            } else {
                root.reduce_into(&*buf, SystemOperation::sum());
            }
            root.broadcast_into(buf);
            Ok(())
        })
    }
}

impl Collective for World {
    fn rank(&self) -> usize {
        locked(|u| Ok(u.world().rank() as usize)).unwrap_or(0)
    }
    fn world_size(&self) -> usize {
        locked(|u| Ok(u.world().size() as usize)).unwrap_or(1)
    }
    fn all_reduce_sum_f64(&self, buf: &mut [f64]) -> CoreResult<()> {
        self.sum(buf)
    }
    fn all_reduce_sum_f32(&self, buf: &mut [f32]) -> CoreResult<()> {
        self.sum(buf)
    }
}

#[napi(object)]
pub struct MpiWorld {
    pub rank: u32,
    pub size: u32,
    /// The MPI library's version string (MPI_Get_library_version).
    pub library: String,
}

/// Initializes MPI once (MPI_THREAD_SERIALIZED) and returns this process's place in the world.
#[napi]
pub fn mpi_init(env: Env) -> Result<MpiWorld> {
    let r = (|| {
        let mut guard = UNIVERSE.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let (universe, level) =
                mpi::initialize_with_threading(Threading::Serialized).ok_or_else(|| invalid_arg("MPI was already initialized and finalized in this process"))?;
            if level < Threading::Serialized {
                return Err(CoreError::InvalidArg(format!("the MPI library gives thread level {level:?}; densenet needs Serialized")));
            }
            *guard = Some(universe);
        }
        let world = guard.as_ref().expect("set above").world();
        let library = mpi::environment::library_version().unwrap_or_default();
        Ok(MpiWorld { rank: world.rank() as u32, size: world.size() as u32, library: library.trim().to_string() })
    })();
    sync(&env, r)
}

/// Blocks until every rank has called it.
#[napi]
pub fn mpi_barrier(env: Env) -> Result<()> {
    sync(
        &env,
        locked(|u| {
            u.world().barrier();
            Ok(())
        }),
    )
}

/// Sums numbers over all ranks (every rank gets the same result).
#[napi]
pub fn mpi_all_reduce_sum(env: Env, values: Vec<f64>) -> Result<Vec<f64>> {
    let mut v = values;
    sync(&env, World.sum(&mut v).map(|_| v))
}

/// Ends MPI (MPI_Finalize); later MPI calls fail. Idempotent.
#[napi]
pub fn mpi_finalize() {
    let universe = UNIVERSE.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(universe);
}

#[napi]
impl NativeModel {
    /// One data-parallel SGD step over MPI_COMM_WORLD: this rank's share of the global batch;
    /// resolves to the global batch's loss and correct count. `syncBn`: batch statistics over
    /// the global batch.
    #[napi(ts_return_type = "Promise<StepResult>")]
    pub fn train_step_distributed(&self, input: Float32Array, shape: Vec<u32>, labels: Int32Array, sync_bn: bool) -> AsyncTask<Job<StepOutput, StepResult>> {
        let (model, input, shape) = (self.inner.clone(), input.to_vec(), to_shape(&shape));
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        Job::new(move || with(&model, |s| s.run(|m| m.train_step_distributed(&input, &shape, &labels, &World, sync_bn))), step_result)
    }
}

/// Ends every rank of the job with `code` (MPI_Abort): what a failed rank does at exit, so that
/// the others do not wait in a collective forever.
#[napi]
pub fn mpi_abort(code: i32) {
    // Not behind the lock: a worker may hold it, blocked in a collective for a rank that is gone.
    let initialized = UNIVERSE.try_lock().map(|g| g.is_some()).unwrap_or(true);
    if initialized {
        // SAFETY: MPI is initialized (and not finalized: finalize takes the universe out first).
        unsafe {
            mpi::ffi::MPI_Abort(mpi::ffi::RSMPI_COMM_WORLD, code.max(1));
        }
    }
}
