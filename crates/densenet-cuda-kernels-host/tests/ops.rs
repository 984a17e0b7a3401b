//! Every kernel of kernels/densenet.cu, run on the host emulator through the CUDA backend's own
//! launch code (`densenet_cuda::Gpu`), against the CPU backend op by op: element-wise ops and
//! order-preserving gathers bit-exact, reductions (different summation order) to ~1e-12 in f64
//! and ~1e-5 relative in f32.

use densenet_core::geometry::{max3s2_out, ConvGeom};
use densenet_core::{Backend, BnArgs, Float, GradOut, MaskSource, SgdConfig};
use densenet_cpu::Cpu;
use densenet_cuda::Gpu;
use densenet_cuda_kernels_host::{backend, kernel_names, Emu};

/// Deterministic values in [-1, 1).
fn data<T: Float>(seed: u64, n: usize) -> Vec<T> {
    (0..n).map(|i| T::from_f64((densenet_core::backend::splitmix64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0)).collect()
}

/// Max |a − b| / (scale), scale = max(1, max |b|): an error relative to the data's magnitude.
fn err<T: Float>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(1f64, |m, v| m.max(v.to_f64().abs()));
    a.iter().zip(b).map(|(x, y)| if x.is_nan() && y.is_nan() { 0.0 } else { (x.to_f64() - y.to_f64()).abs() / scale }).fold(0.0, f64::max)
}

/// The tolerance of reductions whose order differs from the CPU backend's.
fn tol<T: Float>() -> f64 {
    if T::NAME == "f64" {
        1e-12
    } else {
        1e-5
    }
}

fn exact<T: Float>(what: &str, a: &[T], b: &[T]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(x.to_f64().to_bits() == y.to_f64().to_bits() || (x.is_nan() && y.is_nan()), "{what} ({}): element {i}: {x:?} vs {y:?}", T::NAME);
    }
}

fn close<T: Float>(what: &str, a: &[T], b: &[T], tol: f64) {
    let e = err(a, b);
    assert!(e <= tol, "{what} ({}): error {e:e} > {tol:e}", T::NAME);
}

struct Pair<T: Float + densenet_cuda::Elem> {
    cpu: Cpu<T>,
    gpu: Gpu<T, Emu>,
}

impl<T: Float + densenet_cuda::Elem> Pair<T> {
    fn new(cols_budget: usize) -> Self {
        Pair { cpu: Cpu::new(), gpu: backend::<T>(cols_budget) }
    }
    fn up(&self, v: &[T]) -> <Gpu<T, Emu> as Backend<T>>::Buf {
        self.gpu.upload(v).unwrap()
    }
    fn down(&self, b: &<Gpu<T, Emu> as Backend<T>>::Buf) -> Vec<T> {
        self.gpu.download(Gpu::<T, Emu>::src(b))
    }
}

type G<T> = Gpu<T, Emu>;

fn memory_and_bn<T: Float + densenet_cuda::Elem>() {
    let pr = Pair::<T>::new(1 << 16);
    // add_assign, copy, fill_zero on sub-views (the block-buffer channel ranges).
    let (a, b) = (data::<T>(1, 300), data::<T>(2, 300));
    let mut want = b.clone();
    pr.cpu.add_assign(&a[50..250], &mut want[50..250]);
    let (ga, mut gb) = (pr.up(&a), pr.up(&b));
    pr.gpu.add_assign(G::<T>::slice(G::<T>::src(&ga), 50..250), G::<T>::slice_mut(G::<T>::dst(&mut gb), 50..250));
    exact("add_assign", &pr.down(&gb), &want);
    let (lo, hi) = G::<T>::split_mut(G::<T>::dst(&mut gb), 100);
    pr.gpu.fill_zero(lo);
    pr.gpu.copy(G::<T>::slice(G::<T>::src(&ga), 0..200), hi);
    let mut want = vec![T::ZERO; 100];
    want.extend_from_slice(&a[..200]);
    exact("split/fill/copy", &pr.down(&gb), &want);

    // The last two split each channel over several blocks (bn_stats_partial/_mean/_var and
    // bn_backward_sums_partial/_total); the last segment of the second is shorter than the others.
    for (channels, p) in [(5usize, 37usize), (3, 700), (2, 1), (3, 100_000), (1, 40_001)] {
        let x: Vec<T> = data::<T>(3, channels * p).iter().map(|&v| v * T::from_f64(2.0) + T::from_f64(0.3)).collect();
        let gx = pr.up(&x);
        let cs = pr.cpu.bn_stats(&x, channels, p).unwrap();
        let gs = pr.gpu.bn_stats(G::<T>::src(&gx), channels, p).unwrap();
        close("bn_stats mean", &pr.down(&gs.mean), &cs.mean, tol::<T>());
        close("bn_stats invstd", &pr.down(&gs.invstd), &cs.invstd, tol::<T>());
        close("bn_stats var", &pr.down(gs.var_unbiased.as_ref().unwrap()), cs.var_unbiased.as_ref().unwrap(), tol::<T>());

        let gamma: Vec<T> = data::<T>(4, channels).iter().map(|&v| v + T::from_f64(1.5)).collect();
        let beta = data::<T>(5, channels);
        let (gg, gbeta) = (pr.up(&gamma), pr.up(&beta));
        // The statistics themselves from the CPU, so forward/backward compare exactly.
        let (gm, gi) = (pr.up(&cs.mean), pr.up(&cs.invstd));
        for relu in [true, false] {
            let ca = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &cs.mean[..], invstd: &cs.invstd[..], relu };
            let ga = BnArgs { gamma: G::<T>::src(&gg), beta: G::<T>::src(&gbeta), mean: G::<T>::src(&gm), invstd: G::<T>::src(&gi), relu };
            let mut y = vec![T::ZERO; channels * p];
            pr.cpu.bn_forward(&x, channels, p, &ca, &mut y);
            let mut gy = pr.gpu.alloc(channels * p).unwrap();
            pr.gpu.bn_forward(G::<T>::src(&gx), channels, p, &ga, G::<T>::dst(&mut gy));
            exact("bn_forward", &pr.down(&gy), &y);

            let dy = data::<T>(6, channels * p);
            for accumulate in [true, false] {
                let (mut dg, mut db) = (data::<T>(7, channels), data::<T>(8, channels));
                let (mut gdg, mut gdb) = (pr.up(&dg), pr.up(&db));
                let mut cdy = dy.clone();
                let mut gdy = pr.up(&dy);
                let mut dx = data::<T>(9, channels * p);
                let mut gdx = pr.up(&dx);
                if accumulate {
                    pr.cpu.bn_backward(&x, &mut cdy, channels, p, &ca, &mut dg, &mut db, GradOut::Accumulate(&mut dx));
                    pr.gpu.bn_backward(
                        G::<T>::src(&gx),
                        G::<T>::dst(&mut gdy),
                        channels,
                        p,
                        &ga,
                        G::<T>::dst(&mut gdg),
                        G::<T>::dst(&mut gdb),
                        GradOut::Accumulate(G::<T>::dst(&mut gdx)),
                    );
                    close("bn_backward dx (accumulated)", &pr.down(&gdx), &dx, tol::<T>());
                } else {
                    pr.cpu.bn_backward(&x, &mut cdy, channels, p, &ca, &mut dg, &mut db, GradOut::InPlace);
                    pr.gpu.bn_backward(G::<T>::src(&gx), G::<T>::dst(&mut gdy), channels, p, &ga, G::<T>::dst(&mut gdg), G::<T>::dst(&mut gdb), GradOut::InPlace);
                    close("bn_backward dx (in place)", &pr.down(&gdy), &cdy, tol::<T>());
                }
                close("bn_backward dgamma", &pr.down(&gdg), &dg, tol::<T>());
                close("bn_backward dbeta", &pr.down(&gdb), &db, tol::<T>());
            }
        }
    }

    let (rm, rv): (Vec<T>, Vec<T>) = (data::<T>(10, 9), data::<T>(11, 9).iter().map(|&v| v + T::from_f64(1.2)).collect());
    let (grm, grv) = (pr.up(&rm), pr.up(&rv));
    let cs = pr.cpu.bn_running_stats(&rm, &rv).unwrap();
    let gs = pr.gpu.bn_running_stats(G::<T>::src(&grm), G::<T>::src(&grv)).unwrap();
    exact("bn_running_stats mean", &pr.down(&gs.mean), &cs.mean);
    exact("bn_running_stats invstd", &pr.down(&gs.invstd), &cs.invstd);
    let (bm, bv) = (data::<T>(12, 9), data::<T>(13, 9));
    let (mut crm, mut crv) = (rm.clone(), rv.clone());
    let (mut grm, mut grv) = (pr.up(&rm), pr.up(&rv));
    pr.cpu.bn_update_running(&bm, &bv, &mut crm, &mut crv);
    pr.gpu.bn_update_running(G::<T>::src(&pr.up(&bm)), G::<T>::src(&pr.up(&bv)), G::<T>::dst(&mut grm), G::<T>::dst(&mut grv));
    exact("bn_update_running mean", &pr.down(&grm), &crm);
    exact("bn_update_running var", &pr.down(&grv), &crv);
}

fn conv<T: Float + densenet_cuda::Elem>() {
    // (cin, cout, kernel, stride, pad, n, h, w); a small column budget forces several chunks.
    // The last two span several of im2col's/col2im's 1,024-column tiles per row and per plane.
    let geoms = [(6, 4, 1, 1, 0, 3, 5, 4), (5, 3, 3, 1, 1, 3, 6, 5), (3, 4, 7, 2, 3, 2, 11, 9), (4, 2, 3, 2, 1, 2, 7, 6), (2, 3, 3, 1, 1, 2, 40, 37), (2, 2, 3, 2, 1, 3, 45, 33)];
    for (i, &(cin, cout, k, s, pad, n, h, w)) in geoms.iter().enumerate() {
        let g = ConvGeom::new(cin, cout, k, s, pad, n, h, w);
        for budget in [1usize << 20, g.k() * g.ho * g.wo + 1] {
            let pr = Pair::<T>::new(budget);
            let x = data::<T>(20 + i as u64, cin * g.in_plane());
            let wt = data::<T>(30 + i as u64, cout * g.k());
            let (gx, gw) = (pr.up(&x), pr.up(&wt));
            for accumulate in [false, true] {
                let y0 = data::<T>(40, cout * g.out_plane());
                let mut y = y0.clone();
                pr.cpu.conv_forward(&x, &wt, &g, &mut y, accumulate);
                let mut gy = pr.up(&y0);
                pr.gpu.conv_forward(G::<T>::src(&gx), G::<T>::src(&gw), &g, G::<T>::dst(&mut gy), accumulate);
                close(&format!("conv_forward {k}x{k}/{s} acc={accumulate}"), &pr.down(&gy), &y, tol::<T>());

                let dy = data::<T>(41, cout * g.out_plane());
                let gdy = pr.up(&dy);
                let dx0 = data::<T>(42, cin * g.in_plane());
                let mut dx = dx0.clone();
                pr.cpu.conv_backward_input(&dy, &wt, &g, &mut dx, accumulate);
                let mut gdx = pr.up(&dx0);
                pr.gpu.conv_backward_input(G::<T>::src(&gdy), G::<T>::src(&gw), &g, G::<T>::dst(&mut gdx), accumulate);
                close(&format!("conv_backward_input {k}x{k}/{s} acc={accumulate}"), &pr.down(&gdx), &dx, tol::<T>());
            }
            let dy = data::<T>(43, cout * g.out_plane());
            let dw0 = data::<T>(44, cout * g.k());
            let mut dw = dw0.clone();
            pr.cpu.conv_backward_weight(&x, &dy, &g, &mut dw);
            let mut gdw = pr.up(&dw0);
            pr.gpu.conv_backward_weight(G::<T>::src(&gx), G::<T>::src(&pr.up(&dy)), &g, G::<T>::dst(&mut gdw));
            close(&format!("conv_backward_weight {k}x{k}/{s}"), &pr.down(&gdw), &dw, tol::<T>());
        }
    }
}

/// The fused BN-ReLU + pool kernels of inference against the CPU backend's BN then pool (the
/// unfused path, same scan order): bits equal, with a NaN, a negative scale, ReLU on and off.
fn fused_bn_pools<T: Float + densenet_cuda::Elem>(pr: &Pair<T>, planes: usize, h: usize, w: usize) {
    let (channels, n) = if planes.is_multiple_of(2) { (planes / 2, 2) } else { (planes, 1) };
    let mut x = data::<T>(60, planes * h * w);
    let mid = x.len() / 2;
    x[mid] = T::from_f64(f64::NAN);
    let gx = pr.up(&x);
    let gamma: Vec<T> = (0..channels).map(|c| T::from_f64(if c % 2 == 0 { 1.3 } else { -0.7 })).collect();
    let (beta, mean) = (data::<T>(61, channels), data::<T>(62, channels));
    let invstd: Vec<T> = data::<T>(63, channels).iter().map(|&v| v + T::from_f64(2.0)).collect();
    let (gg, gb, gm, gi) = (pr.up(&gamma), pr.up(&beta), pr.up(&mean), pr.up(&invstd));
    for relu in [true, false] {
        let ca = BnArgs { gamma: &gamma[..], beta: &beta[..], mean: &mean[..], invstd: &invstd[..], relu };
        let ga = BnArgs { gamma: G::<T>::src(&gg), beta: G::<T>::src(&gb), mean: G::<T>::src(&gm), invstd: G::<T>::src(&gi), relu };
        let mut z = vec![T::ZERO; x.len()];
        pr.cpu.bn_forward(&x, channels, n * h * w, &ca, &mut z);
        if h >= 2 && w >= 2 {
            let mut want = vec![T::ZERO; planes * (h / 2) * (w / 2)];
            pr.cpu.avg_pool2_forward(&z, planes, h, w, &mut want);
            let mut gy = pr.gpu.alloc(want.len()).unwrap();
            assert!(pr.gpu.bn_avg_pool2_forward(G::<T>::src(&gx), channels, n, h, w, &ga, G::<T>::dst(&mut gy)));
            exact("bn_avg_pool2_forward", &pr.down(&gy), &want);
        }
        let mut want = vec![T::ZERO; planes * max3s2_out(h) * max3s2_out(w)];
        pr.cpu.max_pool3s2_forward(&z, planes, h, w, &mut want, None);
        let mut gy = pr.gpu.alloc(want.len()).unwrap();
        assert!(pr.gpu.bn_max_pool3s2_forward(G::<T>::src(&gx), channels, n, h, w, &ga, G::<T>::dst(&mut gy)));
        exact("bn_max_pool3s2_forward", &pr.down(&gy), &want);
    }
}

fn pools_head_optim<T: Float + densenet_cuda::Elem>() {
    let pr = Pair::<T>::new(1 << 16);
    for (planes, h, w) in [(3usize, 6usize, 6usize), (2, 7, 5), (1, 1, 1), (2, 2, 3)] {
        let mut x = data::<T>(50, planes * h * w);
        if h * w > 4 {
            x[3] = x[4]; // a tie: the first maximum wins
        }
        let gx = pr.up(&x);
        if h >= 2 && w >= 2 {
            let (ho, wo) = (h / 2, w / 2);
            let mut y = vec![T::ZERO; planes * ho * wo];
            pr.cpu.avg_pool2_forward(&x, planes, h, w, &mut y);
            let mut gy = pr.gpu.alloc(y.len()).unwrap();
            pr.gpu.avg_pool2_forward(G::<T>::src(&gx), planes, h, w, G::<T>::dst(&mut gy));
            exact("avg_pool2_forward", &pr.down(&gy), &y);
            let dy = data::<T>(51, y.len());
            let mut dx = data::<T>(52, x.len());
            pr.cpu.avg_pool2_backward(&dy, planes, h, w, &mut dx);
            let mut gdx = pr.up(&data::<T>(52, x.len()));
            pr.gpu.avg_pool2_backward(G::<T>::src(&pr.up(&dy)), planes, h, w, G::<T>::dst(&mut gdx));
            exact("avg_pool2_backward", &pr.down(&gdx), &dx);
        }
        fused_bn_pools(&pr, planes, h, w);
        let (ho, wo) = (max3s2_out(h), max3s2_out(w));
        let mut y = vec![T::ZERO; planes * ho * wo];
        let mut arg = densenet_cpu::pool::PoolBuf::detached(vec![0u32; y.len()]);
        pr.cpu.max_pool3s2_forward(&x, planes, h, w, &mut y, Some(&mut arg));
        let mut gy = pr.gpu.alloc(y.len()).unwrap();
        let mut garg = pr.gpu.alloc_idx(y.len()).unwrap();
        pr.gpu.max_pool3s2_forward(G::<T>::src(&gx), planes, h, w, G::<T>::dst(&mut gy), Some(&mut garg));
        exact("max_pool3s2_forward", &pr.down(&gy), &y);
        assert_eq!(&pr.gpu.download_idx(&garg), arg.as_vec(), "max_pool3s2 argmax");
        let mut gy2 = pr.gpu.alloc(y.len()).unwrap();
        pr.gpu.max_pool3s2_forward(G::<T>::src(&gx), planes, h, w, G::<T>::dst(&mut gy2), None);
        exact("max_pool3s2_forward (no argmax)", &pr.down(&gy2), &y);
        let dy = data::<T>(53, y.len());
        let mut dx = vec![T::ONE; x.len()];
        pr.cpu.max_pool3s2_backward(&dy, &arg, planes, h, w, &mut dx);
        let mut gdx = pr.up(&vec![T::ONE; x.len()]);
        pr.gpu.max_pool3s2_backward(G::<T>::src(&pr.up(&dy)), &garg, planes, h, w, G::<T>::dst(&mut gdx));
        exact("max_pool3s2_backward", &pr.down(&gdx), &dx);

        let hw = h * w;
        let mut out = vec![T::ZERO; planes];
        pr.cpu.global_avg_forward(&x, planes, hw, &mut out);
        let mut gout = pr.gpu.alloc(planes).unwrap();
        pr.gpu.global_avg_forward(G::<T>::src(&gx), planes, hw, G::<T>::dst(&mut gout));
        close("global_avg_forward", &pr.down(&gout), &out, tol::<T>());
        let dp = data::<T>(54, planes);
        let mut dx = vec![T::ZERO; x.len()];
        pr.cpu.global_avg_backward(&dp, planes, hw, &mut dx);
        let mut gdx = pr.gpu.alloc(x.len()).unwrap();
        pr.gpu.global_avg_backward(G::<T>::src(&pr.up(&dp)), planes, hw, G::<T>::dst(&mut gdx));
        exact("global_avg_backward", &pr.down(&gdx), &dx);
    }
    // A global average over more positions than a block has threads.
    let x = data::<T>(55, 2 * 1000);
    let mut out = vec![T::ZERO; 2];
    pr.cpu.global_avg_forward(&x, 2, 1000, &mut out);
    let mut gout = pr.gpu.alloc(2).unwrap();
    pr.gpu.global_avg_forward(G::<T>::src(&pr.up(&x)), 2, 1000, G::<T>::dst(&mut gout));
    close("global_avg_forward (long planes)", &pr.down(&gout), &out, tol::<T>());

    // Classifier and loss.
    let (n, c, k) = (5usize, 7usize, 4usize);
    let (pooled, wt, bias) = (data::<T>(60, c * n), data::<T>(61, k * c), data::<T>(62, k));
    let (gp, gw, gb) = (pr.up(&pooled), pr.up(&wt), pr.up(&bias));
    let mut logits = vec![T::ZERO; n * k];
    pr.cpu.linear_forward(&pooled, &wt, &bias, n, c, k, &mut logits);
    let mut gl = pr.gpu.alloc(n * k).unwrap();
    pr.gpu.linear_forward(G::<T>::src(&gp), G::<T>::src(&gw), G::<T>::src(&gb), n, c, k, G::<T>::dst(&mut gl));
    close("linear_forward", &pr.down(&gl), &logits, tol::<T>());
    let labels = [1usize, 0, 3, 3, 2];
    let cl = pr.cpu.softmax_cross_entropy(&logits, &labels, k).unwrap();
    let gloss = pr.gpu.softmax_cross_entropy(G::<T>::src(&pr.up(&logits)), &labels, k).unwrap();
    assert_eq!(gloss.loss.to_bits(), cl.loss.to_bits(), "softmax_cross_entropy loss");
    assert_eq!(gloss.correct, cl.correct, "softmax_cross_entropy correct");
    close("softmax_cross_entropy dlogits", &pr.down(&gloss.dlogits), &cl.dlogits, if T::NAME == "f64" { 1e-15 } else { 1e-7 });
    let (mut dw, mut db, mut dp) = (data::<T>(63, k * c), data::<T>(64, k), vec![T::ZERO; c * n]);
    let (mut gdw, mut gdb, mut gdp) = (pr.up(&dw), pr.up(&db), pr.gpu.alloc(c * n).unwrap());
    pr.cpu.linear_backward(&pooled, &wt, &cl.dlogits, n, c, k, &mut dw, &mut db, &mut dp);
    let gdl = pr.up(&cl.dlogits);
    pr.gpu.linear_backward(G::<T>::src(&gp), G::<T>::src(&gw), G::<T>::src(&gdl), n, c, k, G::<T>::dst(&mut gdw), G::<T>::dst(&mut gdb), G::<T>::dst(&mut gdp));
    close("linear_backward dweight", &pr.down(&gdw), &dw, tol::<T>());
    exact("linear_backward dbias", &pr.down(&gdb), &db);
    close("linear_backward dpooled", &pr.down(&gdp), &dp, tol::<T>());

    // Dropout, hashed and given.
    let y0 = data::<T>(70, 1000);
    let mut y = y0.clone();
    pr.cpu.dropout(&mut y, 0.3, MaskSource::Hashed { seed: 99, layer: 5 });
    let mut gy = pr.up(&y0);
    pr.gpu.dropout(G::<T>::dst(&mut gy), 0.3, MaskSource::Hashed { seed: 99, layer: 5 });
    exact("dropout (hashed)", &pr.down(&gy), &y);
    let mask: Vec<T> = data::<T>(71, 1000).iter().map(|v| if v.to_f64() > 0.0 { T::ONE } else { T::ZERO }).collect();
    let mut y = y0.clone();
    pr.cpu.dropout(&mut y, 0.2, MaskSource::Given(&mask));
    let mut gy = pr.up(&y0);
    pr.gpu.dropout(G::<T>::dst(&mut gy), 0.2, MaskSource::Given(G::<T>::src(&pr.up(&mask))));
    exact("dropout (given)", &pr.down(&gy), &y);

    // SGD: every combination of momentum, first step, Nesterov and weight decay.
    for cfg in [
        SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 },
        SgdConfig { lr: 0.05, momentum: 0.8, nesterov: false, weight_decay: 0.0 },
        SgdConfig { lr: 0.3, momentum: 0.0, nesterov: false, weight_decay: 5e-4 },
    ] {
        for initialized in [false, true] {
            let (p0, g0, b0) = (data::<T>(80, 777), data::<T>(81, 777), data::<T>(82, 777));
            let (mut p, mut b) = (p0.clone(), b0.clone());
            let (mut gp, mut gbuf) = (pr.up(&p0), pr.up(&b0));
            let gg = pr.up(&g0);
            let with_m = cfg.momentum != 0.0;
            pr.cpu.sgd_step(&mut p, &g0, with_m.then_some((&mut b[..], initialized)), &cfg);
            pr.gpu.sgd_step(G::<T>::dst(&mut gp), G::<T>::src(&gg), with_m.then(|| (G::<T>::dst(&mut gbuf), initialized)), &cfg);
            exact("sgd_step param", &pr.down(&gp), &p);
            exact("sgd_step momentum", &pr.down(&gbuf), &b);
        }
    }

    // Several tensors' steps in one launch (sgd_steps: chunked, a tensor over two chunks, an
    // empty one, mixed groups, with and without momentum), bit for bit as one call per tensor.
    let cfgs = [
        (SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 }, true),
        (SgdConfig { lr: 0.02, momentum: 0.8, nesterov: false, weight_decay: 0.0 }, false),
        (SgdConfig { lr: 0.3, momentum: 0.0, nesterov: false, weight_decay: 5e-4 }, false),
        (SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 1e-4 }, false),
    ];
    let lens = [(1 << 16) + 5, 0, 300, 17];
    let ps: Vec<Vec<T>> = lens.iter().enumerate().map(|(i, &n)| data::<T>(100 + i as u64, n)).collect();
    let gs: Vec<Vec<T>> = lens.iter().enumerate().map(|(i, &n)| data::<T>(110 + i as u64, n)).collect();
    let bs: Vec<Vec<T>> = lens.iter().enumerate().map(|(i, &n)| data::<T>(120 + i as u64, n)).collect();
    let (mut cp, mut cb) = (ps.clone(), bs.clone());
    for (i, (cfg, initialized)) in cfgs.iter().enumerate() {
        let m = (cfg.momentum != 0.0).then_some((&mut cb[i][..], *initialized));
        pr.cpu.sgd_step(&mut cp[i], &gs[i], m, cfg);
    }
    let (mut gp, mut gb): (Vec<_>, Vec<_>) = ps.iter().zip(&bs).map(|(p, b)| (pr.up(p), pr.up(b))).unzip();
    let gg: Vec<_> = gs.iter().map(|g| pr.up(g)).collect();
    let updates = gp
        .iter_mut()
        .zip(gb.iter_mut())
        .zip(&gg)
        .zip(cfgs)
        .map(|(((p, b), g), (cfg, initialized))| densenet_core::SgdUpdate {
            param: G::<T>::dst(p),
            grad: G::<T>::src(g),
            momentum: (cfg.momentum != 0.0).then(|| (G::<T>::dst(b), initialized)),
            cfg,
        })
        .collect();
    pr.gpu.sgd_steps(updates);
    for i in 0..lens.len() {
        exact("sgd_steps param", &pr.down(&gp[i]), &cp[i]);
        exact("sgd_steps momentum", &pr.down(&gb[i]), &cb[i]);
    }

    // The numerics guard, one view and several at once.
    let views: Vec<Vec<T>> = (0..4).map(|i| data::<T>(91 + i, 300 * i as usize)).collect();
    let gv: Vec<_> = views.iter().map(|v| pr.up(v)).collect();
    let srcs: Vec<_> = gv.iter().map(|b| G::<T>::src(b)).collect();
    assert_eq!(pr.gpu.first_non_finite_of(&srcs), None);
    let mut bad = views.clone();
    bad[2][77] = T::from_f64(f64::NAN);
    bad[3][5] = T::from_f64(f64::INFINITY);
    let gb: Vec<_> = bad.iter().map(|v| pr.up(v)).collect();
    let srcs: Vec<_> = gb.iter().map(|b| G::<T>::src(b)).collect();
    let cpu_srcs: Vec<&[T]> = bad.iter().map(|v| &v[..]).collect();
    let (want, got) = (pr.cpu.first_non_finite_of(&cpu_srcs).unwrap(), pr.gpu.first_non_finite_of(&srcs).unwrap());
    assert_eq!((got.0, got.1), (want.0, want.1), "first_non_finite_of");
    assert_eq!((got.0, got.1), (2, 77));
    // A hit in a view's second chunk, after clean views (one empty), is found at its own index.
    let mut long = [data::<T>(95, 10), Vec::new(), data::<T>(96, (1 << 16) + 40)];
    long[2][(1 << 16) + 3] = T::from_f64(f64::NAN);
    long[2][(1 << 16) + 30] = T::from_f64(f64::INFINITY);
    let gl: Vec<_> = long.iter().map(|v| pr.up(v)).collect();
    let got = pr.gpu.first_non_finite_of(&gl.iter().map(|b| G::<T>::src(b)).collect::<Vec<_>>()).unwrap();
    assert_eq!((got.0, got.1), (2, (1 << 16) + 3), "first_non_finite_of over chunks");
    assert!(got.2.is_nan(), "first_non_finite_of over chunks: the value");
    let mut x = data::<T>(90, 5000);
    let gx = pr.up(&x);
    assert_eq!(pr.gpu.first_non_finite(G::<T>::src(&gx)), None);
    for (i, v) in [(4321usize, f64::NAN), (17, f64::INFINITY), (4999, f64::NEG_INFINITY)] {
        x[i] = T::from_f64(v);
        let want = pr.cpu.first_non_finite(&x).unwrap();
        let got = pr.gpu.first_non_finite(G::<T>::src(&pr.up(&x))).unwrap();
        assert_eq!(got.0, want.0, "first_non_finite index");
        assert!(got.1.to_bits() == want.1.to_bits() || (got.1.is_nan() && want.1.is_nan()), "first_non_finite value");
    }
}

#[test]
fn memory_and_batch_norm_match_the_cpu_backend() {
    memory_and_bn::<f64>();
    memory_and_bn::<f32>();
}

#[test]
fn convolutions_match_the_cpu_backend() {
    conv::<f64>();
    conv::<f32>();
}

#[test]
fn pools_head_dropout_sgd_and_guard_match_the_cpu_backend() {
    pools_head_optim::<f64>();
    pools_head_optim::<f32>();
}

#[test]
fn results_do_not_depend_on_the_order_threads_run_in() {
    // Every group again with blocks and threads (and the fibers at each barrier) in reverse order:
    // a kernel that reads what another thread writes without a barrier would now disagree.
    densenet_cuda_kernels_host::set_reverse_order(true);
    memory_and_bn::<f64>();
    conv::<f32>();
    pools_head_optim::<f64>();
    pools_head_optim::<f32>();
    densenet_cuda_kernels_host::set_reverse_order(false);
}

#[test]
fn every_kernel_is_exercised() {
    // Runs in the same process as the op tests above or alone: it runs the groups itself when
    // they have not (yet) recorded every kernel.
    let names = kernel_names();
    // Every op of kernels/densenet.cu's table, once per element type.
    let ops = include_str!("../../../kernels/densenet.cu").lines().filter(|l| l.starts_with("  X(")).count();
    assert!(ops > 20, "{ops} ops read from kernels/densenet.cu");
    assert_eq!(names.len(), 2 * ops, "{names:?}");
    if !names.iter().all(|n| densenet_cuda_kernels_host::launched().contains(n)) {
        memory_and_bn::<f64>();
        memory_and_bn::<f32>();
        conv::<f64>();
        conv::<f32>();
        pools_head_optim::<f64>();
        pools_head_optim::<f32>();
    }
    let launched = densenet_cuda_kernels_host::launched();
    let missing: Vec<_> = names.iter().filter(|n| !launched.contains(*n)).collect();
    assert!(missing.is_empty(), "kernels no test launches: {missing:?}");
}

#[test]
fn an_allocation_that_cannot_be_had_is_err_memory_naming_the_bytes() {
    let b = backend::<f32>(1 << 16);
    let e = b.alloc(1 << 50).err().expect("4 PiB cannot be allocated");
    assert_eq!(e.code(), "ERR_MEMORY", "{e}");
    assert!(e.message().contains(&(4u64 << 50).to_string()), "{e}");
}
