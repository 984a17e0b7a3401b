// The ONNX example page: a model trained with densenet-sdk, as its weights in our WASM build and
// as its ONNX export in onnxruntime-web, on the same canvas drawing. Models come from the query
// (`?weights=URL&onnx=URL`, e.g. served by `npm run demo -- --models DIR` under /models/) or from
// the file pickers. `window.onnxDemo` exposes the actions to the browser test
// (test/onnx-browser.test.ts).
import { init } from '/npm/wasm32/browser.mjs';
import * as ort from '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';

import { drawingCanvas, topK } from '../shared/drawing.mjs';

ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
ort.env.wasm.numThreads = 1; // the page's main thread, like our build here: one thread each

const $ = (id) => document.getElementById(id);
const drawing = drawingCanvas($('draw'), { onClear: () => show(null) });
let loaded = null; // { model, session, prep, names, note }

/** The `__metadata__` map of a safetensors file's header. */
function safetensorsMetadata(bytes, name) {
  if (bytes.length < 8) throw new Error(`${name}: ${bytes.length} bytes, not a safetensors file (expected an 8-byte header length)`);
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (n > bytes.length - 8) throw new Error(`${name}: header length ${n} exceeds the file (${bytes.length} bytes): not a safetensors file, or truncated`);
  let header;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new Error(`${name}: the safetensors header is not JSON (${e.message})`);
  }
  return header.__metadata__ ?? {};
}

/** The stored preprocessing, or a stated default when the file has none (saved before training). */
function preprocessingOf(meta, config, name) {
  if (meta['densenet.preprocessing']) return { prep: JSON.parse(meta['densenet.preprocessing']), note: '' };
  const side = config.inChannels === 1 ? 28 : config.smallInputs ? 32 : 224;
  const prep = { inputSize: [side, side], channels: config.inChannels, mean: Array(config.inChannels).fill(0), std: Array(config.inChannels).fill(1) };
  return { prep, note: `${name} stores no preprocessing: using ${side}×${side}, mean 0, std 1` };
}

let dn;
async function load(weightsBytes, onnxBytes, names = { weights: 'weights.safetensors', onnx: 'model.onnx' }) {
  const meta = safetensorsMetadata(weightsBytes, names.weights);
  if (!meta['densenet.config']) throw new Error(`${names.weights}: no "densenet.config" in its metadata: save it with densenet-sdk (model.save or densenet train)`);
  const config = JSON.parse(meta['densenet.config']);
  const { prep, note } = preprocessingOf(meta, config, names.weights);
  const model = new dn.NativeModel(meta['densenet.config'], 'f32', 0);
  try {
    model.loadWeightsBytes(weightsBytes, names.weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  let session;
  try {
    session = await ort.InferenceSession.create(onnxBytes, { executionProviders: ['wasm'] });
  } catch (e) {
    model.dispose();
    throw new Error(`${names.onnx}: onnxruntime-web cannot load it: ${e.message ?? e}`);
  }
  loaded?.model.dispose();
  await loaded?.session.release();
  loaded = { model, session, prep, config, names, note };
  $('classify').disabled = false;
  const [h, w] = prep.inputSize;
  $('status').textContent = `loaded ${names.weights} (${model.paramCount()} parameters) and ${names.onnx}; input ${prep.channels}×${h}×${w}${note ? `; ${note}` : ''}`;
  return { params: model.paramCount(), inputSize: prep.inputSize, channels: prep.channels, classNames: prep.classNames ?? null, inputNames: session.inputNames, outputNames: session.outputNames };
}

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The drawing as the model's normalized input, [1, C, H, W] planes. */
function canvasInput({ inputSize: [h, w], channels, mean, std }) {
  const rgba = drawing.read(w, h);
  const x = new Float32Array(channels * h * w);
  for (let c = 0; c < channels; c++) for (let i = 0; i < h * w; i++) x[c * h * w + i] = (rgba[i * 4 + c] / 255 - mean[c]) / std[c];
  return x;
}

async function classify() {
  if (!loaded) throw new Error('load a model first (weights and ONNX)');
  const { model, session, prep } = loaded;
  const [h, w] = prep.inputSize;
  const shape = [1, prep.channels, h, w];
  const x = canvasInput(prep);
  let t = performance.now();
  const ours = await model.predict(x, shape);
  const oursMs = performance.now() - t;
  t = performance.now();
  const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, shape) });
  const theirs = out[session.outputNames[0]].data;
  const ortMs = performance.now() - t;
  const name = (i) => prep.classNames?.[i] ?? String(i);
  const label = (r) => ({ index: r.index, label: name(r.index), p: r.p });
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < ours.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    maxAbs = Math.max(maxAbs, Math.abs(ours[i]));
  }
  const result = { ours: topK(ours).map(label), onnx: topK(theirs).map(label), logits: { ours: Array.from(ours), onnx: Array.from(theirs) }, relativeDifference: maxDiff / (maxAbs || 1), ms: { ours: oursMs, onnx: ortMs } };
  show(result);
  return result;
}

function show(result) {
  const column = (id, title, top3, ms) => {
    $(id).innerHTML = `<h3>${title}</h3>` + (top3 ? top3.map((r) => `<div>${r.label}: ${(100 * r.p).toFixed(1)}%</div>`).join('') + `<small>${ms.toFixed(1)} ms</small>` : '');
  };
  column('ours', 'densenet-sdk (WASM)', result?.ours, result?.ms.ours);
  column('ort', 'onnxruntime-web', result?.onnx, result?.ms.onnx);
  const same = result && result.ours.every((r, i) => r.index === result.onnx[i].index);
  $('agreement').className = result && !same ? 'bad' : '';
  $('agreement').textContent = result ? `${same ? 'same top-3' : 'the top-3s differ'}; largest logit difference ${result.relativeDifference.toExponential(1)} of the largest logit` : '';
}

$('classify').onclick = () => classify().catch((e) => ($('status').textContent = `error: ${e.message}`));
$('clear').onclick = drawing.clear;
$('load').onclick = async () => {
  const [wf, of] = [$('weights').files[0], $('onnx').files[0]];
  if (!wf || !of) {
    $('status').textContent = 'choose both files: the .safetensors weights and their .onnx export';
    return;
  }
  try {
    await load(new Uint8Array(await wf.arrayBuffer()), new Uint8Array(await of.arrayBuffer()), { weights: wf.name, onnx: of.name });
  } catch (e) {
    $('status').textContent = `error: ${e.message}`;
  }
};

const ready = (async () => {
  dn = await init();
  $('status').textContent = `ready: densenet-sdk WASM (SIMD128 ${dn.gemmSimd128()}) and onnxruntime-web ${ort.env.versions?.web ?? ''}; load a model`;
  const q = new URLSearchParams(location.search);
  if (q.get('weights') && q.get('onnx')) {
    const [wb, ob] = await Promise.all([fetchBytes(q.get('weights')), fetchBytes(q.get('onnx'))]);
    return load(wb, ob, { weights: q.get('weights').split('/').pop(), onnx: q.get('onnx').split('/').pop() });
  }
  return null;
})();
ready.catch((e) => ($('status').textContent = `error: ${e.message}`));

window.onnxDemo = {
  ready,
  load: async (weightsUrl, onnxUrl) => load(await fetchBytes(weightsUrl), await fetchBytes(onnxUrl), { weights: weightsUrl.split('/').pop(), onnx: onnxUrl.split('/').pop() }),
  classify,
  clear: drawing.clear,
  paint: (pixels) => drawing.paint(pixels),
};
