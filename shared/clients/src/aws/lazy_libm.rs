//! C's `pow`, resolved from libm on first use.
//!
//! The AWS SDK's adaptive retry mode (`RetryMode::Adaptive`: `aws-smithy-runtime`'s client rate
//! limiter) takes a cube root with `f64::powf`, which compiles to a call to C's `pow` — the only
//! libm function any of our binaries calls. So every binary that links the SDK loaded libm at
//! start for it: ≈ 0.3 MiB resident per instance (the loader maps it, relocates it and reads its
//! symbol tables at every lookup; BENCHMARKS.md), for a mode the app does not use (its clients
//! use standard retries, [`super::sdk`]).
//!
//! Defining `pow` here resolves the SDK's call when the binary is linked; the linker
//! (`--as-needed`) then leaves libm out, and a first call, if one ever comes, loads libm and hands
//! over to its `pow`: the same function, the same results.

use std::sync::OnceLock;

type Pow = extern "C" fn(f64, f64) -> f64;

/// libm's `pow`, looked up once; `None` when this system has no loadable libm.
fn libm_pow() -> Option<Pow> {
    static POW: OnceLock<Option<Pow>> = OnceLock::new();
    *POW.get_or_init(|| {
        // SAFETY: `dlopen` and `dlsym` get NUL-terminated names; a null result is checked before
        // use. The symbol looked up in libm's handle is libm's `pow` (a handle's lookup covers
        // the library and its dependencies, not this executable), whose C signature is
        // `double pow(double, double)`, the type it is cast to.
        unsafe {
            let libm = libc::dlopen(c"libm.so.6".as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
            if libm.is_null() {
                return None;
            }
            let pow = libc::dlsym(libm, c"pow".as_ptr());
            if pow.is_null() {
                return None;
            }
            Some(std::mem::transmute::<*mut libc::c_void, Pow>(pow))
        }
    })
}

/// C's `pow(x, y)`: libm's, loaded on the first call. Without a loadable libm (not a glibc
/// system), NaN, and the error is logged.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    match libm_pow() {
        Some(pow) => pow(x, y),
        None => {
            tracing::error!("libm.so.6 could not be loaded: pow() answers NaN");
            f64::NAN
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_answers_as_libm_does() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(2.0, 0.5), std::f64::consts::SQRT_2);
        assert_eq!(pow(8.0, 1.0 / 3.0), 2.0);
        assert_eq!(pow(10.0, -2.0), 0.01);
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        // The SDK's own call goes through it: `powf` is C's `pow` in this binary.
        assert_eq!(27.0_f64.powf(1.0 / 3.0), 3.0);
        assert!(libm_pow().is_some(), "libm loads here");
    }
}
