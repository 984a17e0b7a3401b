//! Row-major matrix views and the one GEMM entry point every op uses.

use densenet_core::Float;
use gemm::Parallelism;

/// A strided matrix view: element (r, c) lives at `ptr[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

impl<T> MatRef<T> {
    /// Row-major [rows, cols] matrix stored contiguously.
    pub fn rows(data: &[T], cols: usize) -> Self {
        MatRef { ptr: data.as_ptr(), rs: cols as isize, cs: 1 }
    }
    /// The transpose of a row-major [rows, cols] matrix: a [cols, rows] view.
    pub fn rows_t(data: &[T], cols: usize) -> Self {
        MatRef { ptr: data.as_ptr(), rs: 1, cs: cols as isize }
    }
    /// A row-major matrix with an explicit row stride (a column window of a wider matrix).
    pub fn strided(data: &[T], row_stride: usize) -> Self {
        MatRef { ptr: data.as_ptr(), rs: row_stride as isize, cs: 1 }
    }
    pub fn strided_t(data: &[T], row_stride: usize) -> Self {
        MatRef { ptr: data.as_ptr(), rs: 1, cs: row_stride as isize }
    }
}

fn parallelism() -> Parallelism {
    let n = rayon::current_num_threads();
    if n <= 1 {
        Parallelism::None
    } else {
        Parallelism::Rayon(n)
    }
}

/// dst[m, n] (row stride `dst_rs`) = (accumulate ? dst : 0) + lhs[m, k] × rhs[k, n].
///
/// `dst` must hold at least (m-1)*dst_rs + n elements; the views must stay inside their slices
/// (callers build them from slices of the right size).
pub fn matmul<T: Float>(m: usize, n: usize, k: usize, dst: &mut [T], dst_rs: usize, accumulate: bool, lhs: MatRef<T>, rhs: MatRef<T>) {
    matmul_with(m, n, k, dst, dst_rs, accumulate, lhs, rhs, parallelism())
}

/// [`matmul`] on the calling thread only (for callers that parallelize around it).
pub fn matmul_serial<T: Float>(m: usize, n: usize, k: usize, dst: &mut [T], dst_rs: usize, accumulate: bool, lhs: MatRef<T>, rhs: MatRef<T>) {
    matmul_with(m, n, k, dst, dst_rs, accumulate, lhs, rhs, Parallelism::None)
}

/// [`matmul_serial`] into a destination given by pointer, for callers whose threads write
/// disjoint column windows of one matrix (slices of it would overlap).
///
/// # Safety
/// `dst` must be valid for writes of (m-1)*dst_rs + n elements, and no other thread may touch
/// the m×n window it names while this runs.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul_serial_raw<T: Float>(m: usize, n: usize, k: usize, dst: *mut T, dst_rs: usize, accumulate: bool, lhs: MatRef<T>, rhs: MatRef<T>) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                // SAFETY: row r of the window lies inside what the caller vouched for.
                unsafe { std::slice::from_raw_parts_mut(dst.add(r * dst_rs), n) }.fill(T::ZERO);
            }
        }
        return;
    }
    // SAFETY: the caller vouches for the destination window; operand views as in matmul_with.
    unsafe { gemm::gemm(m, n, k, dst, 1, dst_rs as isize, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs, rhs.rs, T::ONE, T::ONE, false, false, false, Parallelism::None) }
}

#[allow(clippy::too_many_arguments)]
fn matmul_with<T: Float>(m: usize, n: usize, k: usize, dst: &mut [T], dst_rs: usize, accumulate: bool, lhs: MatRef<T>, rhs: MatRef<T>, par: Parallelism) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst.len() >= (m - 1) * dst_rs + n, "matmul destination too small");
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(T::ZERO);
            }
        }
        return;
    }
    // SAFETY: dimensions and strides were checked against the destination; operand views come
    // from slices whose extents the callers size for the same m, n, k.
    unsafe { gemm::gemm(m, n, k, dst.as_mut_ptr(), 1, dst_rs as isize, accumulate, lhs.ptr, lhs.cs, lhs.rs, rhs.ptr, rhs.cs, rhs.rs, T::ONE, T::ONE, false, false, false, par) }
}
