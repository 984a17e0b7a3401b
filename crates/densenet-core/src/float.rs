//! The element types the core computes in (f32 and f64).

use std::fmt::Debug;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point element type: f32 or f64.
pub trait Float:
    Copy
    + Send
    + Sync
    + 'static
    + Debug
    + Default
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Sum
{
    const ZERO: Self;
    const ONE: Self;
    /// Short name used in files and errors ("f32", "f64").
    const NAME: &'static str;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn is_finite(self) -> bool;
    fn is_nan(self) -> bool;
    /// `self` if `keep`, else +0 — with bit operations, so loops using it stay branch-free.
    fn zero_unless(self, keep: bool) -> Self;
    fn bytes_of(data: &[Self]) -> &[u8];
    fn vec_from_bytes(bytes: &[u8]) -> Vec<Self>;
    /// `buf` as a slice of its concrete type, for APIs with one call per element type.
    fn as_typed_mut(buf: &mut [Self]) -> FloatSliceMut<'_>;
}

/// A mutable slice of f32 or f64, by its concrete type.
pub enum FloatSliceMut<'a> {
    F32(&'a mut [f32]),
    F64(&'a mut [f64]),
}

macro_rules! impl_float {
    ($t:ty, $bits:ty, $name:expr, $variant:ident) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const NAME: &'static str = $name;
            #[inline(always)]
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            #[inline(always)]
            fn zero_unless(self, keep: bool) -> Self {
                <$t>::from_bits(self.to_bits() & (keep as $bits).wrapping_neg())
            }
            fn bytes_of(data: &[Self]) -> &[u8] {
                // SAFETY: plain-old-data floats viewed as bytes.
                unsafe { std::slice::from_raw_parts(data.as_ptr() as *const u8, std::mem::size_of_val(data)) }
            }
            fn vec_from_bytes(bytes: &[u8]) -> Vec<Self> {
                const W: usize = std::mem::size_of::<$t>();
                bytes.chunks_exact(W).map(|c| <$t>::from_le_bytes(c.try_into().unwrap())).collect()
            }
            fn as_typed_mut(buf: &mut [Self]) -> FloatSliceMut<'_> {
                FloatSliceMut::$variant(buf)
            }
        }
    };
}

impl_float!(f32, u32, "f32", F32);
impl_float!(f64, u64, "f64", F64);
