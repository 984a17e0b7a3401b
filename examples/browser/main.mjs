// The demo page: UI on the main thread, the model in worker.mjs. `window.demo` exposes the same
// actions to the browser test (test/wasm-demo.test.ts).
import { drawingCanvas } from '../shared/drawing.mjs';

const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
const $ = (id) => document.getElementById(id);
let nextId = 1;
const waiting = new Map();
const points = [];

worker.onmessage = ({ data }) => {
  if (data.type === 'progress') {
    $('progress').value = data.step / data.steps;
    points.push(data);
    drawChart();
    $('status').textContent = `epoch ${data.epoch + 1}: step ${data.step}/${data.steps}, loss ${data.loss.toFixed(3)}`;
    return;
  }
  if (data.type === 'epoch') {
    $('status').textContent = `epoch ${data.epoch}: held-out accuracy ${(100 * data.testAccuracy).toFixed(1)}%`;
    return;
  }
  const w = waiting.get(data.id);
  if (!w) return;
  waiting.delete(data.id);
  if (data.type === 'error') {
    const err = new Error(data.message);
    err.code = data.code;
    w.reject(err);
  } else w.resolve(data);
};

function ask(msg, transfer = []) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ ...msg, id }, transfer);
  });
}

function drawChart() {
  const c = $('chart').getContext('2d');
  const { width: W, height: H } = c.canvas;
  c.clearRect(0, 0, W, H);
  const n = points.length;
  if (n < 2) return;
  const maxLoss = Math.max(...points.map((p) => p.loss));
  const line = (f, color) => {
    c.strokeStyle = color;
    c.beginPath();
    points.forEach((p, i) => {
      const x = (i / (n - 1)) * (W - 10) + 5;
      const y = H - 5 - f(p) * (H - 10);
      i ? c.lineTo(x, y) : c.moveTo(x, y);
    });
    c.stroke();
  };
  line((p) => p.loss / maxLoss, '#c33');
  line((p) => p.accuracy, '#2a7');
  c.fillStyle = '#333';
  c.fillText(`loss (red, max ${maxLoss.toFixed(2)}), batch accuracy (green)`, 8, 12);
}

// Drawing: white strokes on black, read back at 28×28.
const drawing = drawingCanvas($('draw'), { onClear: () => ($('top3').textContent = '') });
const clear = drawing.clear;
const paint = (pixels) => drawing.paint(pixels, 28);

function canvasPixels() {
  const rgba = drawing.read(28, 28);
  const px = new Uint8Array(28 * 28);
  for (let i = 0; i < px.length; i++) px[i] = rgba[i * 4];
  return px;
}

async function classify() {
  const { top3 } = await ask({ type: 'predict', pixels: canvasPixels() });
  $('top3').innerHTML = top3.map((t) => `<div>${t.label}: ${(100 * t.p).toFixed(1)}%</div>`).join('');
  return top3;
}

async function train(options = {}) {
  $('train').disabled = true;
  try {
    return (await ask({ type: 'train', epochs: 1, ...options })).history;
  } finally {
    $('train').disabled = false;
  }
}

async function saveWeights() {
  const { bytes } = await ask({ type: 'save' });
  return bytes;
}

async function loadWeights(bytes) {
  await ask({ type: 'load', bytes }, [bytes.buffer]);
}

$('train').onclick = () => train().catch((e) => ($('status').textContent = `error: ${e.message}`));
$('classify').onclick = () => classify();
$('clear').onclick = clear;
$('save').onclick = async () => {
  const bytes = await saveWeights();
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
  a.download = 'densenet-mnist.safetensors';
  a.click();
};
$('load').onchange = async (e) => {
  const f = e.target.files[0];
  if (!f) return;
  await loadWeights(new Uint8Array(await f.arrayBuffer()));
  $('status').textContent = `loaded ${f.name}`;
};

window.demo = {
  ready: ask({ type: 'init' }).then((r) => {
    $('status').textContent = `ready: ${r.params} parameters, ${r.digits} digits, SIMD128 ${r.simd}, ${r.threads} thread${r.threads === 1 ? '' : 's'}`;
    for (const id of ['train', 'save', 'load', 'classify']) $(id).disabled = false;
    return r;
  }),
  train,
  classify,
  clear,
  paint,
  digit: (index) => ask({ type: 'digit', index }),
  saveWeights,
  loadWeights,
};
