"""Instruments a COPY of densenet-core (never the repo's own src) for the step profile in
BENCHMARKS.md: exclusive wall time per (phase, op), phase = forward / backward / outside.

    python3 benches/profile/instrument.py COPY_ROOT

COPY_ROOT is an exported tree (git archive) of the repository. Replaces ops/profile.rs with an
exclusive-time, phase-aware timer (same `scope`/`take` names as the repo's DENSENET_PROFILE one,
but always on), drops any existing scope lines, inserts one scope per op entry point, and
patches examples/train_bench.rs to print the table and a PROFILE_JSON line on stderr.
Run by benches/profile/profile_step.sh.
"""

import re
import sys
from pathlib import Path

root = Path(sys.argv[1])
src = root / "crates/densenet-core/src"

PROFILE_RS = r'''//! Step profiler of the instrumented copy: exclusive wall time per (phase, op).
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static PHASE: AtomicU8 = AtomicU8::new(0);
static TOTALS: Mutex<BTreeMap<(u8, &'static str), (f64, u64)>> = Mutex::new(BTreeMap::new());
thread_local! {
    static STACK: RefCell<Vec<(Instant, f64)>> = RefCell::new(Vec::new());
}

/// 0 outside the passes, 1 forward, 2 backward.
pub fn set_phase(p: u8) {
    PHASE.store(p, Ordering::SeqCst);
}

pub struct Scope {
    name: &'static str,
}

pub fn scope(name: &'static str) -> Scope {
    STACK.with(|s| s.borrow_mut().push((Instant::now(), 0.0)));
    Scope { name }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let (start, child) = STACK.with(|s| s.borrow_mut().pop().unwrap());
        let el = start.elapsed().as_secs_f64();
        STACK.with(|s| {
            if let Some(p) = s.borrow_mut().last_mut() {
                p.1 += el;
            }
        });
        let mut t = TOTALS.lock().unwrap();
        let e = t.entry((PHASE.load(Ordering::SeqCst), self.name)).or_insert((0.0, 0));
        e.0 += el - child;
        e.1 += 1;
    }
}

pub fn take() -> BTreeMap<(u8, &'static str), (f64, u64)> {
    std::mem::take(&mut *TOTALS.lock().unwrap())
}
'''


def edit(rel, fn):
    p = src / rel
    s = p.read_text()
    s2 = fn(s)
    p.write_text(s2)


def scope_after(sig_regex, name_expr, count=1):
    """Inserts a scope as the first statement of every fn whose signature matches."""

    def fn(s):
        pat = re.compile(r"(" + sig_regex + r"[^{;]*\{)", re.S)
        n = len(pat.findall(s))
        if n != count:
            raise SystemExit(f"instrument: expected {count} match(es) of {sig_regex!r}, found {n}")
        return pat.sub(lambda m: m.group(1) + f"\n    let _prof = crate::ops::profile::scope({name_expr});", s)

    return fn


(src / "ops/profile.rs").write_text(PROFILE_RS)
edit("ops/mod.rs", lambda s: s if "pub mod profile;" in s else s.replace("pub mod pool;", "pub mod pool;\npub mod profile;"))
# Drop the repo's own scope lines (they may be inclusive or placed differently).
for f in (src / "ops").glob("*.rs"):
    f.write_text(re.sub(r"\n\s*let _\w* = (super|crate::ops)::profile::scope\([^;]*\);", "", f.read_text()))

kname = 'match (g.kernel, g.is_pointwise()) {{ (1, true) => "conv1x1.{0}", (3, _) => "conv3x3.{0}", (7, _) => "conv7x7.{0}", _ => "conv_other.{0}" }}'
edit("ops/batchnorm.rs", scope_after(r"pub fn batch_stats<", '"bn.stats"'))
edit("ops/batchnorm.rs", scope_after(r"pub fn forward<", '"bn.forward"'))
edit("ops/batchnorm.rs", scope_after(r"pub fn backward<", '"bn.backward"'))
edit("ops/conv.rs", scope_after(r"fn im2col<", '"conv.im2col"'))
edit("ops/conv.rs", scope_after(r"fn col2im_add<", '"conv.col2im"'))
edit("ops/conv.rs", scope_after(r"pub fn forward<", kname.format("forward")))
edit("ops/conv.rs", scope_after(r"pub fn backward_weight<", kname.format("backward_weight")))
edit("ops/conv.rs", scope_after(r"pub fn backward_input<", kname.format("backward_input")))
edit("ops/pool.rs", lambda s: re.sub(r"(pub fn (avg2_forward|avg2_backward|max3s2_forward|max3s2_backward|global_avg_forward)<[^{]*\{)", r'\1\n    let _prof = crate::ops::profile::scope("pool");', s))
edit("ops/linear.rs", lambda s: re.sub(r"(pub fn (forward|backward)<[^{]*\{)", r'\1\n    let _prof = crate::ops::profile::scope("linear");', s))
edit("ops/loss.rs", scope_after(r"pub fn softmax_cross_entropy<", '"loss"'))
edit("optim.rs", scope_after(r"pub fn step\(", '"sgd"'))


def model(s):
    s = re.sub(r"(pub\(crate\) fn forward<[^{]*\{)", r"\1\n    crate::ops::profile::set_phase(1);", s)
    s = re.sub(r"(pub\(crate\) fn backward<[^{]*\{)", r"\1\n    crate::ops::profile::set_phase(2);", s)
    # Everything after the passes (finite check, optimizer, running stats) is "outside".
    s = re.sub(r"(pub fn train_step<[^{]*\{)", r"\1\n        crate::ops::profile::set_phase(0);", s)
    s = s.replace("        if !result.loss.is_finite() {", "        crate::ops::profile::set_phase(0);\n        if !result.loss.is_finite() {", 1)
    s = s.replace("        self.optimizer.step(", "        crate::ops::profile::set_phase(0);\n        self.optimizer.step(", 1)
    return s


edit("model.rs", model)

ex = root / "crates/densenet-core/examples/train_bench.rs"
s = ex.read_text()
i = s.find("    let prof = densenet_core::ops::profile::take();")
if i >= 0:  # the repo's own DENSENET_PROFILE printing
    s = s[:i] + s[s.index("\n}\n", i) + 1 :]
s = s.replace('    let rss_before_kb = proc_status_kb("VmRSS:");', '    let _ = densenet_core::ops::profile::take();\n    let rss_before_kb = proc_status_kb("VmRSS:");', 1)
s = s.rstrip()
assert s.endswith("}")
s = s[:-1] + r'''    let prof = densenet_core::ops::profile::take();
    let total: f64 = times.iter().sum::<f64>() / 1000.0;
    let rows: Vec<_> = prof
        .into_iter()
        .map(|((phase, name), (secs, calls))| {
            let phase = ["outside", "forward", "backward"][phase as usize];
            serde_json::json!({"phase": phase, "op": name, "s": secs, "calls": calls})
        })
        .collect();
    eprintln!("PROFILE_JSON {}", serde_json::json!({"total_s": total, "steps": steps, "batch": batch, "fwd_conv_gflop": fwd_flops / 1e9, "rows": rows}));
}
'''
ex.write_text(s)
print(f"instrumented {root}")
