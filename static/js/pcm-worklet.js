// AudioWorklet: microphone audio at the context's rate -> 16 kHz mono PCM16 frames.
//
// Resampling is band-limited: every output sample is a windowed-sinc (Blackman)
// interpolation of the input, with the cutoff below the 8 kHz Nyquist limit of the
// output, so high frequencies are filtered out instead of folding back as aliasing.
// Works for any input rate (48 kHz, 44.1 kHz, ...). Frames of FRAME_SAMPLES samples
// (100 ms = 3,200 bytes) are posted to the page as transferable ArrayBuffers, with
// a level reading about every 50 ms for the meter.
"use strict";

const TARGET_RATE = 16000;
const FRAME_SAMPLES = 1600;
const ZERO_CROSSINGS = 16; // kernel half-width in output samples: sharpness vs. cost
const TABLE_STEPS = 512; // kernel table resolution per input sample

class PcmResampler {
  constructor(inputRate) {
    this.step = inputRate / TARGET_RATE; // input samples per output sample
    // Normalized cutoff (fraction of the input rate, x2): 0.9 of the lower Nyquist.
    this.cutoff = (Math.min(inputRate, TARGET_RATE) / inputRate) * 0.9;
    this.halfWidth = Math.ceil(ZERO_CROSSINGS / this.cutoff); // in input samples
    this.table = this.buildKernel();
    this.buffer = new Float32Array(8192);
    this.length = 0; // valid samples in buffer
    this.position = this.halfWidth; // next output time, in input samples from buffer[0]
    this.buffer.fill(0, 0, this.halfWidth); // silence before the first sample
    this.length = this.halfWidth;
  }

  buildKernel() {
    const size = this.halfWidth * TABLE_STEPS + 2;
    const table = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      const x = i / TABLE_STEPS; // distance in input samples
      const arg = Math.PI * this.cutoff * x;
      const sinc = x === 0 ? 1 : Math.sin(arg) / arg;
      const w = x / this.halfWidth; // 0..1 across the half window
      const blackman = w >= 1 ? 0 : 0.42 + 0.5 * Math.cos(Math.PI * w) + 0.08 * Math.cos(2 * Math.PI * w);
      table[i] = this.cutoff * sinc * blackman;
    }
    return table;
  }

  kernel(distance) {
    const at = Math.abs(distance) * TABLE_STEPS;
    const i = Math.floor(at);
    if (i + 1 >= this.table.length) return 0;
    const frac = at - i;
    return this.table[i] + (this.table[i + 1] - this.table[i]) * frac;
  }

  push(samples) {
    if (this.length + samples.length > this.buffer.length) {
      const bigger = new Float32Array((this.length + samples.length) * 2);
      bigger.set(this.buffer.subarray(0, this.length));
      this.buffer = bigger;
    }
    this.buffer.set(samples, this.length);
    this.length += samples.length;
  }

  // Output samples whose whole kernel window is available; calls emit(sample) for each.
  drain(emit) {
    while (this.position + this.halfWidth < this.length) {
      const centre = Math.floor(this.position);
      let sum = 0;
      for (let k = centre - this.halfWidth + 1; k <= centre + this.halfWidth; k++) {
        sum += this.buffer[k] * this.kernel(this.position - k);
      }
      emit(sum);
      this.position += this.step;
    }
    // Keep only the history the next window needs.
    const keepFrom = Math.floor(this.position) - this.halfWidth;
    if (keepFrom > 0) {
      this.buffer.copyWithin(0, keepFrom, this.length);
      this.length -= keepFrom;
      this.position -= keepFrom;
    }
  }
}

class PcmWorklet extends AudioWorkletProcessor {
  constructor() {
    super();
    this.resampler = new PcmResampler(sampleRate);
    this.frame = new Int16Array(FRAME_SAMPLES);
    this.filled = 0;
    this.mono = new Float32Array(128);
    this.levelSum = 0;
    this.levelPeak = 0;
    this.levelCount = 0;
    this.levelEvery = Math.round(sampleRate / 20); // ~50 ms
    this.emit = (value) => this.addSample(value);
  }

  addSample(value) {
    const clamped = Math.max(-1, Math.min(1, value));
    this.frame[this.filled++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    if (this.filled === FRAME_SAMPLES) {
      const buffer = this.frame.buffer;
      this.port.postMessage({ type: "frame", pcm: buffer }, [buffer]);
      this.frame = new Int16Array(FRAME_SAMPLES);
      this.filled = 0;
    }
  }

  downmix(channels) {
    const n = channels[0].length;
    if (this.mono.length !== n) this.mono = new Float32Array(n);
    this.mono.set(channels[0]);
    for (let c = 1; c < channels.length; c++) {
      for (let i = 0; i < n; i++) this.mono[i] += channels[c][i];
    }
    if (channels.length > 1) {
      for (let i = 0; i < n; i++) this.mono[i] /= channels.length;
    }
    return this.mono;
  }

  measure(samples) {
    for (let i = 0; i < samples.length; i++) {
      const v = samples[i];
      this.levelSum += v * v;
      if (Math.abs(v) > this.levelPeak) this.levelPeak = Math.abs(v);
    }
    this.levelCount += samples.length;
    if (this.levelCount >= this.levelEvery) {
      const rms = Math.sqrt(this.levelSum / this.levelCount);
      this.port.postMessage({ type: "level", rms, peak: this.levelPeak });
      this.levelSum = this.levelPeak = this.levelCount = 0;
    }
  }

  process(inputs) {
    const input = inputs[0];
    if (input && input.length > 0 && input[0].length > 0) {
      const mono = this.downmix(input);
      this.measure(mono);
      this.resampler.push(mono);
      this.resampler.drain(this.emit);
    }
    return true; // keep running while the page holds the node
  }
}

registerProcessor("pcm-worklet", PcmWorklet);
