// The drawing canvas shared by the demo pages: white strokes on black, read back at any size
// (smoothed down-scaling), painted from small grayscale images (scaled up without smoothing).

/**
 * @param {HTMLCanvasElement} canvas
 * @param {{ brush?: number, onClear?: () => void }} [options]
 */
export function drawingCanvas(canvas, { brush = 12, onClear } = {}) {
  const pen = canvas.getContext('2d');
  let down = false;
  const stroke = (e) => {
    const r = canvas.getBoundingClientRect();
    pen.fillStyle = '#fff';
    pen.beginPath();
    pen.arc(e.clientX - r.left, e.clientY - r.top, brush, 0, 2 * Math.PI);
    pen.fill();
  };
  canvas.addEventListener('pointerdown', (e) => {
    down = true;
    stroke(e);
  });
  canvas.addEventListener('pointermove', (e) => down && stroke(e));
  addEventListener('pointerup', () => (down = false));

  const clear = () => {
    pen.fillStyle = '#000';
    pen.fillRect(0, 0, canvas.width, canvas.height);
    onClear?.();
  };
  clear();

  return {
    clear,
    /** The drawing scaled to width × height: RGBA bytes, row-major. */
    read(width, height) {
      const small = document.createElement('canvas');
      small.width = width;
      small.height = height;
      const s = small.getContext('2d');
      s.imageSmoothingEnabled = true;
      s.drawImage(canvas, 0, 0, width, height);
      return s.getImageData(0, 0, width, height).data;
    },
    /** Paints a side × side grayscale image over the whole canvas. */
    paint(pixels, side = Math.round(Math.sqrt(pixels.length))) {
      const small = document.createElement('canvas');
      small.width = small.height = side;
      const s = small.getContext('2d');
      const img = s.createImageData(side, side);
      for (let i = 0; i < side * side; i++) img.data.set([pixels[i], pixels[i], pixels[i], 255], i * 4);
      s.putImageData(img, 0, 0);
      pen.imageSmoothingEnabled = false;
      pen.drawImage(small, 0, 0, canvas.width, canvas.height);
    },
  };
}

/** Softmax of the logits, the k most probable classes first: [{ index, p }]. */
export function topK(logits, k = 3) {
  const m = Math.max(...logits);
  const e = Array.from(logits, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v, index) => ({ index, p: v / s })).sort((a, b) => b.p - a.p).slice(0, k);
}
