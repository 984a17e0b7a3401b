//! Mean softmax cross-entropy over a batch of logits [N, K].

use densenet_core::Float;

pub struct LossResult<T> {
    pub loss: f64,
    pub correct: usize,
    /// d loss / d logits, [N, K].
    pub dlogits: Vec<T>,
}

/// Loss, number of correct top-1 predictions, and the logits gradient.
pub fn softmax_cross_entropy<T: Float>(logits: &[T], labels: &[usize], k: usize) -> LossResult<T> {
    let n = labels.len();
    let mut dlogits = vec![T::ZERO; n * k];
    let mut total = 0.0f64;
    let mut correct = 0;
    for (i, &label) in labels.iter().enumerate() {
        let row = &logits[i * k..(i + 1) * k];
        let mut arg = 0;
        for j in 1..k {
            if row[j] > row[arg] {
                arg = j;
            }
        }
        if arg == label {
            correct += 1;
        }
        let max = row[arg].to_f64();
        let sum: f64 = row.iter().map(|v| (v.to_f64() - max).exp()).sum();
        let lse = max + sum.ln();
        total += lse - row[label].to_f64();
        for j in 0..k {
            let p = (row[j].to_f64() - lse).exp();
            let g = if j == label { p - 1.0 } else { p };
            dlogits[i * k + j] = T::from_f64(g / n as f64);
        }
    }
    LossResult { loss: total / n as f64, correct, dlogits }
}

/// Top-1 correct count only (eval).
pub fn count_correct<T: Float>(logits: &[T], labels: &[usize], k: usize) -> usize {
    labels
        .iter()
        .enumerate()
        .filter(|(i, &label)| {
            let row = &logits[i * k..(i + 1) * k];
            let mut arg = 0;
            for j in 1..k {
                if row[j] > row[arg] {
                    arg = j;
                }
            }
            arg == label
        })
        .count()
}
