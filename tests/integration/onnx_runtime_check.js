// tests/integration/onnx_runtime_check.js
//
// The ONNX Runtime side of the export tests (onnx_runtime.sh) and of the latency
// benchmark (bench/onnx-latency.sh): a runtime shrike did not write (the npm package
// onnxruntime-node, CPU) runs an exported model, and its output is compared with
// shrike's own forward pass (`shrike debug forward`). Tensors travel as safetensors
// files, read and written here in a few lines.
//
//   node onnx_runtime_check.js input OUT.safetensors B H W SEED
//       deterministic test image(s) 'images' (B, 3, H, W) in 0..1: smooth colour
//       gradients and blobs plus noise, so that the network sees structure
//   node onnx_runtime_check.js compare MODEL.onnx IN.safetensors EXPECTED.safetensors TOL [--half]
//       runs MODEL on 'images' of IN and compares 'output0' with EXPECTED's; exit 1
//       above the tolerance (see `compare` below), printing the worst element
//   node onnx_runtime_check.js time MODEL.onnx IN.safetensors RUNS
//       median and best latency of session.run over RUNS runs after 3 warm-up runs
// onnxruntime-node is found through NODE_PATH.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

// ---- safetensors (8-byte LE header length, JSON header, raw little-endian data) ----
function readSafetensors(path) {
  const buffer = fs.readFileSync(path);
  const headerLength = Number(buffer.readBigUInt64LE(0));
  const header = JSON.parse(buffer.subarray(8, 8 + headerLength).toString('utf8'));
  const data = buffer.subarray(8 + headerLength);
  const tensors = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets;
    const bytes = Uint8Array.prototype.slice.call(data, begin, end);  // aligned copy
    if (entry.dtype !== 'F32') throw new Error(`${path}: ${name} is ${entry.dtype}, expected F32`);
    tensors[name] = { dims: entry.shape, data: new Float32Array(bytes.buffer) };
  }
  return tensors;
}

function writeSafetensors(path, tensors) {
  const header = {};
  const chunks = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: 'F32', shape: t.dims, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.length));
  fs.writeFileSync(path, Buffer.concat([length, Buffer.from(text, 'utf8'), ...chunks]));
}

// ---- float16 for --half models (round to nearest even) ----
function toHalfBits(value) {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1), midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1))) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half += 1;
  return sign | half;
}

function fromHalfBits(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f, mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// ---- deterministic input ----
function makeInput(out, batch, height, width, seed) {
  let state = BigInt(seed) + 0x9e3779b97f4a7c15n;
  const next = () => {  // splitmix64 -> [0, 1)
    state = (state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
    return Number((z ^ (z >> 31n)) >> 11n) / 2 ** 53;
  };
  const data = new Float32Array(batch * 3 * height * width);
  for (let b = 0; b < batch; ++b) {
    const blobs = Array.from({ length: 4 }, () => [next() * width, next() * height, 4 + next() * width / 4,
                                                   [next(), next(), next()]]);
    for (let c = 0; c < 3; ++c) {
      for (let y = 0; y < height; ++y) {
        for (let x = 0; x < width; ++x) {
          let v = 0.5 + 0.3 * Math.sin((x * (c + 1)) / 17 + (y * (3 - c)) / 23 + b);
          for (const [bx, by, r, colour] of blobs) {
            if ((x - bx) ** 2 + (y - by) ** 2 < r * r) v = colour[c];
          }
          v += (next() - 0.5) * 0.1;
          data[((b * 3 + c) * height + y) * width + x] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  writeSafetensors(out, { images: { dims: [batch, 3, height, width], data } });
}

async function runModel(modelPath, images, half) {
  const session = await ort.InferenceSession.create(modelPath);
  if (session.inputNames.join() !== 'images' || session.outputNames.join() !== 'output0') {
    throw new Error(`${modelPath}: inputs [${session.inputNames}] outputs [${session.outputNames}], ` +
                    'expected [images] and [output0]');
  }
  const input = half ? new ort.Tensor('float16', Uint16Array.from(images.data, toHalfBits), images.dims)
                     : new ort.Tensor('float32', images.data, images.dims);
  const { output0 } = await session.run({ images: input });
  // float16 data arrives as Uint16Array bit patterns (Float16Array where the runtime has one).
  const values = output0.data instanceof Uint16Array ? Float32Array.from(output0.data, fromHalfBits)
                                                     : Float32Array.from(output0.data);
  return { session, dims: Array.from(output0.dims, Number), data: values };
}

// Tolerance `tol`: every element within tol * max(|expected|, 1) (boxes are in pixels,
// scores in 0..1: relative for coordinates, absolute for small scores), and the
// whole tensor within tol in relative L2.
async function compare(modelPath, inputPath, expectedPath, tol, half) {
  const images = readSafetensors(inputPath).images;
  const expected = readSafetensors(expectedPath).output0;
  const got = await runModel(modelPath, images, half);
  if (got.dims.join() !== expected.dims.join()) {
    throw new Error(`output0 has shape [${got.dims}], shrike's is [${expected.dims}]`);
  }
  let worst = 0, worstIndex = 0, diff2 = 0, norm2 = 0;
  for (let i = 0; i < expected.data.length; ++i) {
    const d = Math.abs(got.data[i] - expected.data[i]);
    const scaled = d / Math.max(Math.abs(expected.data[i]), 1);
    if (!(scaled <= worst)) { worst = scaled; worstIndex = i; }
    diff2 += d * d;
    norm2 += expected.data[i] * expected.data[i];
  }
  const relL2 = Math.sqrt(diff2 / norm2);
  const anchors = expected.dims[2], rows = expected.dims[1];
  const row = Math.floor(worstIndex / anchors) % rows;
  console.log(`${modelPath} on [${images.dims}]: output0 [${got.dims}], max scaled error ${worst.toExponential(2)} ` +
              `(row ${row}: onnxruntime ${got.data[worstIndex]}, shrike ${expected.data[worstIndex]}), ` +
              `relative L2 ${relL2.toExponential(2)}, tolerance ${tol}`);
  if (!(worst <= tol && relL2 <= tol)) {
    console.error(`FAIL: ${modelPath} differs from shrike's forward beyond ${tol}`);
    process.exit(1);
  }
}

async function time(modelPath, inputPath, runs) {
  const images = readSafetensors(inputPath).images;
  const session = await ort.InferenceSession.create(modelPath);
  const feeds = { images: new ort.Tensor('float32', images.data, images.dims) };
  for (let i = 0; i < 3; ++i) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < runs; ++i) {
    const start = process.hrtime.bigint();
    await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const version = require('onnxruntime-node/package.json').version;
  console.log(`onnxruntime-node ${version} CPU, ${modelPath} [${images.dims}]: ` +
              `median ${ms[Math.floor(ms.length / 2)].toFixed(1)} ms, best ${ms[0].toFixed(1)} ms over ${runs} runs`);
}

async function main() {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'input') return makeInput(args[0], +args[1], +args[2], +args[3], +args[4]);
  if (command === 'compare') return compare(args[0], args[1], args[2], +args[3], args[4] === '--half');
  if (command === 'time') return time(args[0], args[1], +args[2]);
  console.error('usage: onnx_runtime_check.js input|compare|time ... (see the header)');
  process.exit(2);
}

main().catch((error) => {
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
});
