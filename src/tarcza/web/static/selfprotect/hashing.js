// tarcza self-protection: hashing in the browser. Only the hashes leave the device.
//
// An ES module usable on its own (no imports, no CDN, no build step):
//
//   import { hashFile } from "/static/selfprotect/hashing.js";
//   const h = await hashFile(file);
//   // image: {kind: "image", md5, sha256, pdq, quality}
//   // video: {kind: "video", md5, sha256, vpdq: [{frame, pdq, quality, timestamp}]}
//
// PDQ follows Meta's reference hasher (facebook/ThreatExchange pdq, pdq-photo-hasher): luminance
// Y = 0.299 R + 0.587 G + 0.114 B; images with a side longer than 512 pixels first resized to
// 512x512 by nearest neighbour as the reference CLI does (source index floor(i * old / 512)); two
// passes of the Jarosz box filter along each axis, decimation to 64x64, the 16x16 block of the
// 64-point DCT-II without its DC row and column, bit set where a coefficient exceeds the median;
// quality from the 64x64 image's gradients. Pixels are hashed as stored: the EXIF orientation tag
// is ignored, as the reference does.
//
// vPDQ follows the reference (facebook/ThreatExchange vpdq): every frame whose number is a multiple
// of trunc(secondsPerHash * frameRate) (one a second by default) is hashed with PDQ at its full
// size (no 512 resize), with its frame number and timestamp frame / frameRate. Frames are decoded
// by seeking a <video> element and drawing it on a canvas.
//
// MD5 is computed here (WebCrypto has none) over File.slice chunks, so a large file is never held
// twice. SHA-256 uses crypto.subtle.digest, which takes the whole file in one buffer: fine up to
// the upload limits of the self-protection page, not for files of many gigabytes.

export const MIN_HASHABLE_DIM = 5;
export const REFERENCE_DOWNSAMPLE_DIMS = 512;
export const DEFAULT_SECONDS_PER_HASH = 1;
const MD5_CHUNK = 4 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// MD5 (RFC 1321), incremental.

const MD5_SHIFTS = new Uint8Array([
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
  20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6,
  10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
]);
const MD5_K = new Int32Array(64);
for (let i = 0; i < 64; i++) MD5_K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;
const MD5_INDEX = new Uint8Array(64);
for (let i = 0; i < 64; i++) {
  if (i < 16) MD5_INDEX[i] = i;
  else if (i < 32) MD5_INDEX[i] = (5 * i + 1) & 15;
  else if (i < 48) MD5_INDEX[i] = (3 * i + 5) & 15;
  else MD5_INDEX[i] = (7 * i) & 15;
}

export class Md5 {
  constructor() {
    this.state = new Int32Array([0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476]);
    this.block = new Uint8Array(64);
    this.blockView = new DataView(this.block.buffer);
    this.blockLength = 0;
    this.length = 0; // bytes so far (a double: exact up to 2^53)
    this.words = new Int32Array(16);
  }

  _compress(view, offset) {
    const m = this.words;
    for (let i = 0; i < 16; i++) m[i] = view.getInt32(offset + 4 * i, true);
    const s = this.state;
    let a = s[0];
    let b = s[1];
    let c = s[2];
    let d = s[3];
    for (let i = 0; i < 64; i++) {
      let f;
      if (i < 16) f = (b & c) | (~b & d);
      else if (i < 32) f = (d & b) | (~d & c);
      else if (i < 48) f = b ^ c ^ d;
      else f = c ^ (b | ~d);
      const t = (a + f + MD5_K[i] + m[MD5_INDEX[i]]) | 0;
      const r = MD5_SHIFTS[i];
      a = d;
      d = c;
      c = b;
      b = (b + ((t << r) | (t >>> (32 - r)))) | 0;
    }
    s[0] = (s[0] + a) | 0;
    s[1] = (s[1] + b) | 0;
    s[2] = (s[2] + c) | 0;
    s[3] = (s[3] + d) | 0;
  }

  update(bytes) {
    const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
    let offset = 0;
    this.length += data.length;
    if (this.blockLength > 0) {
      const take = Math.min(64 - this.blockLength, data.length);
      this.block.set(data.subarray(0, take), this.blockLength);
      this.blockLength += take;
      offset = take;
      if (this.blockLength < 64) return this;
      this._compress(this.blockView, 0);
      this.blockLength = 0;
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (; offset + 64 <= data.length; offset += 64) this._compress(view, offset);
    if (offset < data.length) {
      this.block.set(data.subarray(offset), 0);
      this.blockLength = data.length - offset;
    }
    return this;
  }

  hex() {
    const bits = this.length * 8;
    const padLength = this.blockLength < 56 ? 56 - this.blockLength : 120 - this.blockLength;
    const tail = new Uint8Array(padLength + 8);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(padLength, bits >>> 0, true);
    view.setUint32(padLength + 4, Math.floor(bits / 2 ** 32), true);
    const length = this.length;
    this.update(tail);
    this.length = length;
    const out = new DataView(new ArrayBuffer(16));
    for (let i = 0; i < 4; i++) out.setInt32(4 * i, this.state[i], true);
    return toHex(new Uint8Array(out.buffer));
  }
}

function toHex(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += bytes[i].toString(16).padStart(2, "0");
  return s;
}

/** MD5 of a Blob or File, read in chunks of 4 MiB. */
export async function md5Blob(blob, chunkSize = MD5_CHUNK) {
  const md5 = new Md5();
  for (let start = 0; start < blob.size; start += chunkSize) {
    md5.update(new Uint8Array(await blob.slice(start, start + chunkSize).arrayBuffer()));
  }
  return md5.hex();
}

/** SHA-256 of bytes (WebCrypto: the whole buffer at once). */
export async function sha256Bytes(bytes) {
  if (!globalThis.crypto || !crypto.subtle) {
    throw new Error("SHA-256 needs WebCrypto (a secure context: https or localhost)");
  }
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

// ---------------------------------------------------------------------------------------------
// PDQ.

// Rows 1..16 of the 64-point DCT-II (the DC row left out), scaled by sqrt(2/64), as float32.
const DCT = new Float32Array(16 * 64);
for (let i = 0; i < 16; i++) {
  for (let j = 0; j < 64; j++) {
    DCT[i * 64 + j] = Math.sqrt(2 / 64) * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1));
  }
}

const tapCache = new Map();

// For each of the 64 samples kept along an axis of n pixels: the first pixel it sums and the
// weights of the consecutive pixels from there. The reference blurs with a box of
// window = ceil(n / 128) pixels (clipped at the edges) twice, then keeps pixel
// floor((k + 0.5) * n / 64): both are linear, so each kept sample is a short weighted sum.
function axisTaps(n) {
  let taps = tapCache.get(n);
  if (taps) return taps;
  const window = Math.floor((n + 2 * 64 - 1) / (2 * 64));
  const half = Math.floor((window + 2) / 2);
  const lo = (i) => Math.max(i - (window - half), 0);
  const hi = (i) => Math.min(i + half - 1, n - 1);
  const starts = new Int32Array(64);
  const weights = [];
  for (let k = 0; k < 64; k++) {
    const p = Math.floor(((k + 0.5) * n) / 64);
    const first = lo(lo(p));
    const last = hi(hi(p));
    const w = new Float64Array(last - first + 1);
    const w1 = 1 / (hi(p) - lo(p) + 1);
    for (let i = lo(p); i <= hi(p); i++) {
      const w2 = w1 / (hi(i) - lo(i) + 1);
      for (let j = lo(i); j <= hi(i); j++) w[j - first] += w2;
    }
    starts[k] = first;
    weights.push(w);
  }
  taps = { starts, weights };
  if (tapCache.size > 64) tapCache.clear();
  tapCache.set(n, taps);
  return taps;
}

const ZERO_HASH = "0".repeat(64);

function checkPixels(rgba, width, height) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`width and height must be whole numbers >= 0, not ${width}x${height}`);
  }
  if (!rgba || rgba.length !== width * height * 4) {
    const got = rgba ? rgba.length : 0;
    throw new RangeError(`rgba must hold width * height * 4 = ${width * height * 4} bytes, not ${got}`);
  }
}

/**
 * PDQ of RGBA pixels (width * height * 4 bytes, row-major, as ImageData gives them), hashed at the
 * size given: the 512x512 resize of the reference CLI is the caller's (see pdqFromImageData).
 * Returns {pdq, quality}.
 */
export function pdqFromRgba(rgba, width, height) {
  checkPixels(rgba, width, height);
  if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) return { pdq: ZERO_HASH, quality: 0 };
  const grid = new Float32Array(64 * 64);
  const rowLuma = new Float32Array(width);
  const lumaRow = (y) => {
    let o = y * width * 4;
    for (let x = 0; x < width; x++, o += 4) {
      rowLuma[x] = 0.299 * rgba[o] + 0.587 * rgba[o + 1] + 0.114 * rgba[o + 2];
    }
    return rowLuma;
  };
  if (width === 64 && height === 64) {
    // The reference skips the blur for a 64x64 input (video frames already downsampled).
    for (let y = 0; y < 64; y++) grid.set(lumaRow(y), y * 64);
  } else {
    const rows = axisTaps(height);
    const cols = axisTaps(width);
    // For each source row, the kept rows it adds to and with what weight: the luma of a row is
    // computed once, and only for the rows the blur reaches at the kept samples.
    const kept = new Float64Array(64 * width); // 64 kept rows, all columns
    const rowsNeeded = new Map();
    for (let k = 0; k < 64; k++) {
      const w = rows.weights[k];
      for (let t = 0; t < w.length; t++) {
        const y = rows.starts[k] + t;
        let list = rowsNeeded.get(y);
        if (!list) rowsNeeded.set(y, (list = []));
        list.push(k, w[t]);
      }
    }
    for (const [y, list] of rowsNeeded) {
      const luma = lumaRow(y);
      for (let e = 0; e < list.length; e += 2) {
        const base = list[e] * width;
        const w = list[e + 1];
        for (let x = 0; x < width; x++) kept[base + x] += w * luma[x];
      }
    }
    for (let k = 0; k < 64; k++) {
      const base = k * width;
      for (let l = 0; l < 64; l++) {
        const w = cols.weights[l];
        const start = base + cols.starts[l];
        let sum = 0;
        for (let t = 0; t < w.length; t++) sum += w[t] * kept[start + t];
        grid[k * 64 + l] = sum;
      }
    }
  }
  return pdqFromGrid(grid);
}

// The hash and quality from the blurred, decimated 64x64 luma.
function pdqFromGrid(grid) {
  // Quality: each gradient step truncated to an integer before summing, as the reference does.
  let gradients = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      gradients += Math.abs(Math.trunc(((grid[i * 64 + j] - grid[(i + 1) * 64 + j]) * 100) / 255));
    }
  }
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 63; j++) {
      gradients += Math.abs(Math.trunc(((grid[i * 64 + j] - grid[i * 64 + j + 1]) * 100) / 255));
    }
  }
  const quality = Math.min(Math.floor(gradients / 90), 100);
  // B = D A D^T, through T = D A (16 x 64).
  const t = new Float32Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum += DCT[i * 64 + k] * grid[k * 64 + j];
      t[i * 64 + j] = sum;
    }
  }
  const b = new Float32Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let k = 0; k < 64; k++) sum += t[i * 64 + k] * DCT[j * 64 + k];
      b[i * 16 + j] = sum;
    }
  }
  // Median: the 128th smallest value (Torben's median of 256 values in the reference).
  const median = Float32Array.from(b).sort()[127];
  // Bit k = 16 i + j is set above the median; the hex shows word 15 (bits 240..255) first.
  let hex = "";
  for (let word = 15; word >= 0; word--) {
    let v = 0;
    for (let bit = 0; bit < 16; bit++) if (b[word * 16 + bit] > median) v |= 1 << bit;
    hex += v.toString(16).padStart(4, "0");
  }
  return { pdq: hex, quality };
}

/** Number of differing bits between two 64-hex-digit PDQ hashes. */
export function hamming(a, b) {
  let d = 0;
  for (let i = 0; i < 64; i += 8) {
    let x = (parseInt(a.slice(i, i + 8), 16) ^ parseInt(b.slice(i, i + 8), 16)) >>> 0;
    while (x) {
      x &= x - 1;
      d++;
    }
  }
  return d;
}

// ---------------------------------------------------------------------------------------------
// Images.

// The reference decodes the pixels as stored, but Chromium's decoders apply the EXIF orientation
// whatever createImageBitmap is told (imageOrientation "none" now means "from-image"). So the
// orientation tag of a copy of the bytes is set to 1 (as stored) before decoding.
export function withoutExifOrientation(bytes) {
  const exif = findExif(bytes);
  if (!exif) return bytes;
  const [start, end, crcFrom] = exif;
  let copy = null;
  const tiff = bytes.subarray(start, end);
  if (tiff.length < 8) return bytes;
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  if (!little && !(tiff[0] === 0x4d && tiff[1] === 0x4d)) return bytes;
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const ifd = view.getUint32(4, little);
  if (ifd + 2 > tiff.length) return bytes;
  const count = view.getUint16(ifd, little);
  for (let e = 0; e < count; e++) {
    const entry = ifd + 2 + 12 * e;
    if (entry + 12 > tiff.length) break;
    if (view.getUint16(entry, little) !== 0x0112) continue;
    // One SHORT, held in the first two bytes of the value field.
    if (view.getUint16(entry + 2, little) !== 3 || view.getUint32(entry + 4, little) !== 1) break;
    const value = view.getUint16(entry + 8, little);
    if (value === 1) break;
    copy = new Uint8Array(bytes);
    new DataView(copy.buffer, start, end - start).setUint16(entry + 8, 1, little);
    if (crcFrom !== undefined) {
      new DataView(copy.buffer).setUint32(end, crc32(copy.subarray(crcFrom, end)));
    }
    break;
  }
  return copy || bytes;
}

let crcTable = null;

function crc32(bytes) {
  if (!crcTable) {
    crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c;
    }
  }
  let crc = -1;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 255] ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

// [start, end) of the TIFF structure of the EXIF data of a JPEG, PNG or WebP file, or null; for
// PNG a third item: where the chunk's CRC-covered bytes start (the CRC follows the data).
function findExif(bytes) {
  const n = bytes.length;
  const ascii = (o, s) => {
    for (let i = 0; i < s.length; i++) if (bytes[o + i] !== s.charCodeAt(i)) return false;
    return true;
  };
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    let o = 2;
    while (o + 4 <= n && bytes[o] === 0xff) {
      const marker = bytes[o + 1];
      if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
        o += 2;
        continue;
      }
      if (marker === 0xda || marker === 0xd9) break; // image data: no more metadata segments
      const length = (bytes[o + 2] << 8) | bytes[o + 3];
      if (marker === 0xe1 && ascii(o + 4, "Exif\0\0")) return [o + 10, Math.min(o + 2 + length, n)];
      o += 2 + length;
    }
    return null;
  }
  if (ascii(0, "\x89PNG\r\n\x1a\n")) {
    let o = 8;
    while (o + 12 <= n) {
      const length = ((bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]) >>> 0;
      if (ascii(o + 4, "IDAT") || ascii(o + 4, "IEND")) return null; // Chromium reads eXIf first
      if (ascii(o + 4, "eXIf") && o + 12 + length <= n) {
        return [o + 8, o + 8 + length, o + 4]; // the chunk's CRC covers its type and data
      }
      o += 12 + length;
    }
    return null;
  }
  if (ascii(0, "RIFF") && ascii(8, "WEBP")) {
    // Chromium ignored a WebP's EXIF orientation when this was written; reset it all the same.
    let o = 12;
    while (o + 8 <= n) {
      const size = bytes[o + 4] | (bytes[o + 5] << 8) | (bytes[o + 6] << 16) | (bytes[o + 7] << 24);
      if (ascii(o, "EXIF")) {
        let s = o + 8;
        if (ascii(s, "Exif\0\0")) s += 6;
        return [s, Math.min(o + 8 + size, n)];
      }
      o += 8 + size + (size & 1);
    }
  }
  return null;
}

// The reference CLI's resize of an image with a side over 512 pixels: 512x512, nearest
// neighbour, source pixel floor(i * old / 512) (CImg's choice; exact in integers). rowAt(y) gives
// row y as one 32-bit word a pixel; only the 512 rows picked are asked for.
function referenceDownsample(width, height, rowAt) {
  const size = REFERENCE_DOWNSAMPLE_DIMS;
  const small = new Uint8Array(size * size * 4);
  const out = new Uint32Array(small.buffer);
  const cols = new Int32Array(size);
  for (let x = 0; x < size; x++) cols[x] = Math.floor((x * width) / size);
  let lastRow = -1;
  let row = null;
  for (let y = 0; y < size; y++) {
    const source = Math.floor((y * height) / size);
    if (source !== lastRow) {
      row = rowAt(source);
      lastRow = source;
    }
    for (let x = 0; x < size; x++) out[y * size + x] = row[cols[x]];
  }
  return small;
}

/**
 * PDQ of decoded RGBA pixels as the reference CLI computes it: an image with a side over 512
 * pixels is first resized to 512x512 by nearest neighbour. Returns {pdq, quality}.
 */
export function pdqFromImageData(rgba, width, height) {
  checkPixels(rgba, width, height);
  const size = REFERENCE_DOWNSAMPLE_DIMS;
  if (width <= size && height <= size) return pdqFromRgba(rgba, width, height);
  const words = new Uint32Array(rgba.buffer, rgba.byteOffset, width * height);
  const small = referenceDownsample(width, height, (y) => words.subarray(y * width, (y + 1) * width));
  return pdqFromRgba(small, size, size);
}

function canvas2d(width, height) {
  const canvas =
    typeof OffscreenCanvas !== "undefined"
      ? new OffscreenCanvas(width, height)
      : Object.assign(document.createElement("canvas"), { width, height });
  const ctx = canvas.getContext("2d", { willReadFrequently: true, alpha: true });
  if (!ctx) throw new Error("no 2D canvas context to decode with");
  return ctx;
}

/** Decode an image's bytes and compute its PDQ hash and quality. */
export async function pdqFromImageBytes(bytes) {
  const blob = new Blob([withoutExifOrientation(bytes)]);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      imageOrientation: "from-image", // the orientation tag was reset to 1 above
      premultiplyAlpha: "none",
      colorSpaceConversion: "none",
    });
  } catch (err) {
    throw new Error(`the image could not be decoded: ${err && err.message ? err.message : err}`);
  }
  try {
    const { width, height } = bitmap;
    const size = REFERENCE_DOWNSAMPLE_DIMS;
    const ctx = canvas2d(width, height);
    ctx.drawImage(bitmap, 0, 0);
    if (width <= size && height <= size) {
      return pdqFromRgba(ctx.getImageData(0, 0, width, height).data, width, height);
    }
    // Read back only the 512 rows the reference's nearest-neighbour resize keeps.
    const small = referenceDownsample(width, height, (y) => {
      const data = ctx.getImageData(0, y, width, 1).data;
      return new Uint32Array(data.buffer, data.byteOffset, width);
    });
    return pdqFromRgba(small, size, size);
  } finally {
    bitmap.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Videos.

// Frame rate and frame count of the first video track of an MP4/MOV file, as FFmpeg reports
// them (avg_frame_rate = samples * timescale / duration), or null.
export function mp4VideoTiming(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (o) => String.fromCharCode(bytes[o + 4], bytes[o + 5], bytes[o + 6], bytes[o + 7]);
  function* boxes(start, end) {
    let o = start;
    while (o + 8 <= end) {
      let size = view.getUint32(o);
      let header = 8;
      if (size === 1) {
        if (o + 16 > end) return;
        size = view.getUint32(o + 8) * 2 ** 32 + view.getUint32(o + 12);
        header = 16;
      } else if (size === 0) {
        size = end - o;
      }
      if (size < header || o + size > end) return;
      yield [type(o), o + header, o + size];
      o += size;
    }
  }
  const child = (start, end, name) => {
    for (const box of boxes(start, end)) if (box[0] === name) return box;
    return null;
  };
  const moov = child(0, bytes.length, "moov");
  if (!moov) return null;
  for (const [name, start, end] of boxes(moov[1], moov[2])) {
    if (name !== "trak") continue;
    const mdia = child(start, end, "mdia");
    if (!mdia) continue;
    const hdlr = child(mdia[1], mdia[2], "hdlr");
    if (!hdlr || type(hdlr[1] + 4) !== "vide") continue;
    const mdhd = child(mdia[1], mdia[2], "mdhd");
    const minf = child(mdia[1], mdia[2], "minf");
    const stbl = minf && child(minf[1], minf[2], "stbl");
    const stts = stbl && child(stbl[1], stbl[2], "stts");
    if (!mdhd || !stts) return null;
    const timescale = view.getUint32(mdhd[1] + (bytes[mdhd[1]] === 1 ? 20 : 12));
    const entries = view.getUint32(stts[1] + 4);
    let samples = 0;
    let duration = 0;
    for (let e = 0; e < entries; e++) {
      const o = stts[1] + 8 + 8 * e;
      if (o + 8 > stts[2]) break;
      samples += view.getUint32(o);
      duration += view.getUint32(o) * view.getUint32(o + 4);
    }
    if (!timescale || !samples || !duration) return null;
    return { frameRate: (samples * timescale) / duration, frameCount: samples };
  }
  return null;
}

// Wait for a media event; a decoding error or a stall of 30 s rejects.
function once(target, ok, fail = "error", timeoutMs = 30000) {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      target.removeEventListener(ok, done);
      target.removeEventListener(fail, failed);
    };
    const done = (event) => {
      stop();
      resolve(event);
    };
    const failed = () => {
      stop();
      const error = target.error;
      reject(new Error(`the video could not be decoded${error ? `: ${error.message}` : ""}`));
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`the video could not be decoded: no "${ok}" within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    target.addEventListener(ok, done);
    target.addEventListener(fail, failed);
  });
}

// Frame rate of a video that is not MP4/MOV: the median step between presented frames while it
// plays muted for a moment (requestVideoFrameCallback), or 30 when that cannot be measured.
async function measureFrameRate(video) {
  if (!("requestVideoFrameCallback" in video)) return 30;
  const times = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 3000);
    const step = (_now, meta) => {
      times.push(meta.mediaTime);
      if (times.length >= 12) {
        clearTimeout(timer);
        resolve();
      } else {
        video.requestVideoFrameCallback(step);
      }
    };
    video.requestVideoFrameCallback(step);
    video.play().catch(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  video.pause();
  const steps = [];
  for (let i = 1; i < times.length; i++) if (times[i] > times[i - 1]) steps.push(times[i] - times[i - 1]);
  if (steps.length < 3) return 30;
  steps.sort((a, b) => a - b);
  return 1 / steps[Math.floor(steps.length / 2)];
}

// The reference converts each decoded frame to RGB24 with FFmpeg's swscale defaults: BT.601
// coefficients, limited range, whatever colour space the stream declares, chroma taken from the
// sample covering each pixel. A canvas would convert with the stream's declared matrix (BT.709
// for HD video) and interpolate chroma, which moves saturated colours and flips up to ~20 bits on
// colourful frames. So the planes of the decoded frame are read (WebCodecs VideoFrame over the
// <video> element) and converted as swscale does; the canvas is the fallback.
const YUV_LAYOUTS = {
  I420: [2, 2],
  I420A: [2, 2],
  I422: [2, 1],
  I444: [1, 1],
};

export function rgbaFromYuv(planes, format, width, height) {
  const rgba = new Uint8Array(width * height * 4);
  const nv12 = format === "NV12";
  const [sx, sy] = nv12 ? [2, 2] : YUV_LAYOUTS[format];
  const { y: yPlane, u: uPlane, v: vPlane } = planes;
  for (let row = 0; row < height; row++) {
    const yRow = yPlane.offset + row * yPlane.stride;
    const cRow = Math.floor(row / sy);
    let o = row * width * 4;
    for (let col = 0; col < width; col++, o += 4) {
      const c = Math.floor(col / sx);
      let u;
      let v;
      if (nv12) {
        const at = uPlane.offset + cRow * uPlane.stride + 2 * c;
        u = planes.data[at] - 128;
        v = planes.data[at + 1] - 128;
      } else {
        u = planes.data[uPlane.offset + cRow * uPlane.stride + c] - 128;
        v = planes.data[vPlane.offset + cRow * vPlane.stride + c] - 128;
      }
      const luma = (planes.data[yRow + col] - 16) * 76309 + 32768;
      const r = (luma + 104597 * v) >> 16;
      const g = (luma - 25675 * u - 53279 * v) >> 16;
      const b = (luma + 132201 * u) >> 16;
      rgba[o] = r < 0 ? 0 : r > 255 ? 255 : r;
      rgba[o + 1] = g < 0 ? 0 : g > 255 ? 255 : g;
      rgba[o + 2] = b < 0 ? 0 : b > 255 ? 255 : b;
      rgba[o + 3] = 255;
    }
  }
  return rgba;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The decoded picture of the element's current frame: {format, width, height, data, layout}
// (YUV planes through WebCodecs' VideoFrame) or {format: "RGBA", ...} through the canvas.
async function grabFrame(video, width, height, ctx) {
  if (typeof VideoFrame !== "undefined") {
    let frame = null;
    try {
      frame = new VideoFrame(video);
      const format = frame.format;
      const w = frame.visibleRect ? frame.visibleRect.width : frame.displayWidth;
      const h = frame.visibleRect ? frame.visibleRect.height : frame.displayHeight;
      if ((format in YUV_LAYOUTS || format === "NV12") && w === width && h === height) {
        const data = new Uint8Array(frame.allocationSize());
        const layout = await frame.copyTo(data);
        return { format, data, layout };
      }
    } catch {
      // fall through to the canvas
    } finally {
      if (frame) frame.close();
    }
  }
  ctx.drawImage(video, 0, 0, width, height);
  return { format: "RGBA", data: ctx.getImageData(0, 0, width, height).data };
}

function fingerprint(bytes) {
  let h = bytes.length;
  for (let i = 0; i < bytes.length; i += 61) h = (Math.imul(h, 31) + bytes[i]) | 0;
  return h;
}

// "seeked" can fire a moment before the element's current frame is the one sought: on a busy
// machine the previous frame was seen now and then. So wait a little, and take the frame once
// two looks SETTLE_MS apart agree.
const SETTLE_MS = 15;

async function pdqOfCurrentFrame(video, width, height, ctx) {
  await sleep(SETTLE_MS);
  let picture = await grabFrame(video, width, height, ctx);
  for (let look = 0; look < 20; look++) {
    await sleep(SETTLE_MS);
    const again = await grabFrame(video, width, height, ctx);
    const same = fingerprint(again.data) === fingerprint(picture.data);
    picture = again;
    if (same) break;
  }
  if (picture.format === "RGBA") return pdqFromRgba(picture.data, width, height);
  const { data, layout } = picture;
  const planes = { data, y: layout[0], u: layout[1], v: layout[2] };
  return pdqFromRgba(rgbaFromYuv(planes, picture.format, width, height), width, height);
}

/**
 * vPDQ of a video (a Blob or File): [{frame, pdq, quality, timestamp}], one frame every
 * secondsPerHash seconds (frame numbers multiple of trunc(secondsPerHash * frameRate), as the
 * reference picks; 0 hashes every frame). options.bytes: the file's bytes if already read (for
 * the frame rate in an MP4/MOV header).
 */
export async function vpdqFromVideo(blob, options = {}) {
  const secondsPerHash = options.secondsPerHash ?? DEFAULT_SECONDS_PER_HASH;
  if (!(secondsPerHash >= 0)) throw new Error("secondsPerHash must be a number >= 0");
  const bytes = options.bytes || new Uint8Array(await blob.arrayBuffer());
  const url = URL.createObjectURL(blob);
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  try {
    const loaded = once(video, "loadeddata");
    video.src = url;
    await loaded;
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!width || !height) throw new Error("the video has no picture");
    const timing = mp4VideoTiming(bytes);
    const frameRate = timing ? timing.frameRate : await measureFrameRate(video);
    const frameCount = timing
      ? timing.frameCount
      : Math.max(1, Math.floor(video.duration * frameRate + 1e-6));
    const frameMod = Math.max(1, Math.trunc(secondsPerHash * frameRate));
    const ctx = canvas2d(width, height);
    const features = [];
    for (let frame = 0; frame < frameCount; frame += frameMod) {
      // Seek into the middle of the frame, so that rounding cannot land on its neighbour.
      const target = Math.min((frame + 0.5) / frameRate, Math.max(0, video.duration - 1e-3));
      if (Math.abs(video.currentTime - target) > 1e-9 || frame === 0) {
        const seeked = once(video, "seeked");
        video.currentTime = target;
        await seeked;
      }
      const seconds = frame / frameRate;
      const { pdq, quality } = await pdqOfCurrentFrame(video, width, height, ctx);
      features.push({ frame, pdq, quality, timestamp: seconds });
      if (options.onProgress) options.onProgress(Math.min(1, (frame + 1) / frameCount));
    }
    return features;
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}

// ---------------------------------------------------------------------------------------------
// Files.

/** "image", "video" or null, from the first bytes (the type a browser gives can be empty). */
export function sniffKind(bytes, declaredType = "") {
  const ascii = (o, s) => {
    for (let i = 0; i < s.length; i++) if (bytes[o + i] !== s.charCodeAt(i)) return false;
    return true;
  };
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image";
  if (ascii(0, "\x89PNG\r\n\x1a\n") || ascii(0, "GIF8") || ascii(0, "BM")) return "image";
  if (ascii(0, "RIFF") && ascii(8, "WEBP")) return "image";
  if (ascii(4, "ftyp")) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    return ["avif", "avis", "heic", "heix", "mif1", "msf1"].includes(brand) ? "image" : "video";
  }
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) return "video";
  if (ascii(0, "RIFF") && ascii(8, "AVI ")) return "video";
  if (ascii(0, "OggS")) return "video";
  if (declaredType.startsWith("image/")) return "image";
  if (declaredType.startsWith("video/")) return "video";
  return null;
}

/**
 * Hash a File (or Blob) the person picked.
 * Image: {kind: "image", md5, sha256, pdq, quality}.
 * Video: {kind: "video", md5, sha256, vpdq: [{frame, pdq, quality, timestamp}]}.
 * options.secondsPerHash (videos, default 1), options.onProgress(fraction).
 */
export async function hashFile(file, options = {}) {
  const head = new Uint8Array(await file.slice(0, 32).arrayBuffer());
  const kind = sniffKind(head, file.type || "");
  if (!kind) throw new Error("not an image or a video this page can hash");
  const md5 = md5Blob(file);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const sha256 = sha256Bytes(bytes);
  if (kind === "image") {
    const { pdq, quality } = await pdqFromImageBytes(bytes);
    return { kind, md5: await md5, sha256: await sha256, pdq, quality };
  }
  const vpdq = await vpdqFromVideo(file, { ...options, bytes });
  return { kind, md5: await md5, sha256: await sha256, vpdq };
}
