// Item viewers of the labeling page: image (fit, zoom, pan, brightness/contrast), audio (waveform,
// play/pause, seek, speed, loop region) and text. Each has show(item), clear() and key(event) -> bool
// (true when it handled the key). Display adjustments never change the item.

const $ = (id) => document.getElementById(id);
const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

export class ImageViewer {
  constructor() {
    this.box = $("image-viewer");
    this.img = $("image");
    this.tools = $("image-tools");
    this.brightness = $("brightness");
    this.contrast = $("contrast");
    this.zoomLabel = $("zoom-level");
    this.view = { scale: 1, x: 0, y: 0, fit: 1 };
    this.onView = null; // called after every zoom or pan (the box editor keeps its boxes on the image)
    this.img.addEventListener("load", () => this.fit());
    for (const input of [this.brightness, this.contrast]) input.addEventListener("input", () => this.applyFilter());
    this.tools.addEventListener("click", (event) => {
      const action = event.target.closest("[data-action]")?.dataset.action;
      if (action === "fit") this.reset();
      if (action === "zoom-in") this.zoom(1.25);
      if (action === "zoom-out") this.zoom(0.8);
    });
    this.box.addEventListener("wheel", (event) => {
      event.preventDefault();
      const rect = this.box.getBoundingClientRect();
      this.zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });
    this.onGesture = null; // called when a second finger lands: the box editor drops the drag the first began
    let drag = null;
    this.box.addEventListener("pointerdown", (event) => {
      if (this.pinch) return;
      drag = { x: event.clientX - this.view.x, y: event.clientY - this.view.y };
      this.box.setPointerCapture(event.pointerId);
    });
    this.box.addEventListener("pointermove", (event) => {
      if (!drag || this.pinch) return;
      this.view.x = event.clientX - drag.x;
      this.view.y = event.clientY - drag.y;
      this.apply();
    });
    this.box.addEventListener("pointerup", () => { drag = null; });
    this.box.addEventListener("pointercancel", () => { drag = null; });
    // Two fingers zoom (pinch) and pan (both moved) the image, on a phone or a tablet, where the page's own
    // pinch is off over the image (touch-action: none, so that a finger draws). Listened for before the box
    // editor (capture): from the second finger on, the fingers are the gesture's, and draw nothing.
    this.touches = new Map(); // pointerId -> {x, y}, the fingers on the image now
    this.pinch = null;
    this.box.addEventListener("pointerdown", (event) => {
      if (event.pointerType !== "touch") return;
      this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (this.touches.size !== 2) return;
      drag = null;
      this.onGesture?.();
      this.startPinch();
      event.stopPropagation();
      event.preventDefault();
    }, { capture: true });
    this.box.addEventListener("pointermove", (event) => {
      if (!this.touches.has(event.pointerId)) return;
      this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (!this.pinch) return;
      event.stopPropagation();
      this.movePinch();
    }, { capture: true });
    for (const type of ["pointerup", "pointercancel"]) {
      this.box.addEventListener(type, (event) => {
        if (!this.touches.delete(event.pointerId)) return;
        // The gesture lasts until the last finger lifts: the one left on the image draws nothing.
        if (this.pinch) event.stopPropagation();
        if (!this.touches.size) this.pinch = null;
        else if (this.pinch) this.pinch.over = true;
      }, { capture: true });
    }
    new ResizeObserver(() => this.resized()).observe(this.box);
  }

  show(item) {
    this.box.hidden = false;
    this.tools.hidden = false;
    this.img.src = item.file;
    this.applyFilter();
  }

  clear() {
    this.img.removeAttribute("src");
  }

  fit() {
    const { clientWidth: width, clientHeight: height } = this.box;
    const { naturalWidth: w, naturalHeight: h } = this.img;
    if (!w || !h || !width || !height) return;
    // Small scans are enlarged to fill the stage (up to 16x); large photos are shrunk to fit.
    const scale = Math.min(width / w, height / h, 16);
    this.view = { scale, fit: scale, x: (width - w * scale) / 2, y: (height - h * scale) / 2 };
    this.fitted = { ...this.view }; // as fitted: a resize fits it again unless it has been zoomed or panned since
    this.apply();
  }

  // The viewer changes size with the window, and when a line of text under it wraps or appears (a status
  // note, an error): a fitted image fits again; a zoomed-in or panned one stays where it is on the screen
  // (fitting it again threw the labeler's zoom away whenever the answer's status line grew a line).
  resized() {
    if (!this.img.naturalWidth) return;
    const { scale, x, y } = this.view;
    const moved = this.fitted && (Math.abs(scale - this.fitted.scale) > 1e-9
      || Math.abs(x - this.fitted.x) > 0.5 || Math.abs(y - this.fitted.y) > 0.5);
    if (!moved) this.fit();
  }

  zoom(factor, cx = this.box.clientWidth / 2, cy = this.box.clientHeight / 2) {
    const scale = clamp(this.view.scale * factor, this.view.fit / 4, this.view.fit * 32);
    const ratio = scale / this.view.scale;
    this.view.x = cx - (cx - this.view.x) * ratio;
    this.view.y = cy - (cy - this.view.y) * ratio;
    this.view.scale = scale;
    this.apply();
  }

  /** The two fingers' midpoint in the viewer's coordinates, and their distance apart. */
  fingers() {
    const [a, b] = [...this.touches.values()];
    const rect = this.box.getBoundingClientRect();
    return { x: (a.x + b.x) / 2 - rect.left, y: (a.y + b.y) / 2 - rect.top, apart: Math.hypot(a.x - b.x, a.y - b.y) || 1 };
  }

  startPinch() {
    this.pinch = { from: this.fingers(), view: { ...this.view }, over: false };
  }

  // The image point under the fingers' midpoint when they landed stays under it; the scale follows their spread.
  movePinch() {
    if (this.pinch.over || this.touches.size < 2) return;
    const { from, view } = this.pinch;
    const now = this.fingers();
    const scale = clamp(view.scale * (now.apart / from.apart), view.fit / 4, view.fit * 32);
    this.view.x = now.x - ((from.x - view.x) * scale) / view.scale;
    this.view.y = now.y - ((from.y - view.y) * scale) / view.scale;
    this.view.scale = scale;
    this.apply();
  }

  pan(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this.apply();
  }

  apply() {
    const { x, y, scale } = this.view;
    this.img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    this.img.classList.toggle("pixelated", scale >= 2);
    this.zoomLabel.textContent = `${Math.round((scale / this.view.fit) * 100)}%`;
    this.onView?.();
  }

  applyFilter() {
    this.img.style.filter = `brightness(${this.brightness.value}) contrast(${this.contrast.value})`;
  }

  nudge(input, delta) {
    input.value = clamp(Number(input.value) + delta, Number(input.min), Number(input.max)).toFixed(2);
    this.applyFilter();
  }

  reset() {
    this.brightness.value = 1;
    this.contrast.value = 1;
    this.applyFilter();
    this.fit();
  }

  key(event) {
    const step = event.shiftKey ? 10 : 40;
    switch (event.key) {
      case "+": case "=": this.zoom(1.25); return true;
      case "-": case "_": this.zoom(0.8); return true;
      case "\\": this.reset(); return true;
      case "ArrowLeft": this.pan(step, 0); return true;
      case "ArrowRight": this.pan(-step, 0); return true;
      case "ArrowUp": this.pan(0, step); return true;
      case "ArrowDown": this.pan(0, -step); return true;
      case "[": this.nudge(this.brightness, -0.1); return true;
      case "]": this.nudge(this.brightness, 0.1); return true;
      case "{": this.nudge(this.contrast, -0.1); return true;
      case "}": this.nudge(this.contrast, 0.1); return true;
      default: return false;
    }
  }
}

const SPEEDS = [0.5, 0.75, 1, 1.25, 1.5, 2];
const formatTime = (t) => {
  const seconds = Math.max(0, t || 0);
  return `${Math.floor(seconds / 60)}:${(seconds % 60).toFixed(1).padStart(4, "0")}`;
};

export class AudioViewer {
  /** ``segments``: the regions are a segments project's answer (SegmentEditor's), not a playback loop. */
  constructor(vendor, { segments = false } = {}) {
    this.segments = segments;
    this.box = $("audio-viewer");
    this.audio = $("audio");
    this.playButton = $("play");
    this.timeLabel = $("audio-time");
    this.speed = $("speed");
    this.loopLabel = $("loop-state");
    this.loop = null; // {start, end}
    this.pendingStart = null;
    this.regions = null;
    this.ready = this.loadWaveform(vendor);
    this.loaded = this.ready; // resolves when the shown clip is decoded
    this.playButton.addEventListener("click", () => this.toggle());
    this.speed.addEventListener("change", () => this.setSpeed(Number(this.speed.value)));
    const tick = () => {
      this.timeLabel.textContent = `${formatTime(this.audio.currentTime)} / ${formatTime(this.audio.duration)}`;
      if (this.loop && this.audio.currentTime >= this.loop.end) this.audio.currentTime = this.loop.start;
    };
    this.audio.addEventListener("timeupdate", tick);
    this.audio.addEventListener("loadedmetadata", tick);
    this.audio.addEventListener("play", () => { this.playButton.firstChild.textContent = "Pause "; this.watchLoop(); });
    this.audio.addEventListener("pause", () => { this.playButton.firstChild.textContent = "Play "; });
    this.audio.addEventListener("ended", () => {
      if (this.loop) { this.audio.currentTime = this.loop.start; this.audio.play(); }
    });
  }

  // The waveform is a progressive enhancement: without it (or while it loads) the controls still work.
  async loadWaveform(vendor) {
    try {
      const [{ default: WaveSurfer }, { default: RegionsPlugin }] = await Promise.all([
        import(vendor.wavesurfer), import(vendor.regions),
      ]);
      this.regions = RegionsPlugin.create();
      this.wave = WaveSurfer.create({
        // Dragging makes a segment in a segments project and a loop elsewhere (a drag-to-seek would swallow
        // either); a click seeks. "auto": as tall as the .waveform box (labeling.css sizes it by the window):
        // the quiet stretches between words, where a segment starts and ends, show at more than a few pixels.
        container: $("waveform"), media: this.audio, height: "auto", normalize: true, dragToSeek: false,
        waveColor: "#9fb3c8", progressColor: "#0b63c5", cursorColor: "#1f2328", plugins: [this.regions],
      });
      if (this.segments) return;
      this.regions.enableDragSelection({ color: "rgba(11, 99, 197, 0.15)" });
      // The plugin starts a dragged region 5 px wide at the press (see SegmentEditor): the loop spans the drag.
      this.regions.on("region-initialized", (region) => {
        if (!this.placing) region.setOptions({ end: region.start }); // not a loop set with [ ]
      });
      this.regions.on("region-created", (region) => {
        if (region.end - region.start < 0.05) { region.remove(); return; } // a drag that spanned no time
        for (const other of this.regions.getRegions()) if (other !== region) other.remove();
        this.setLoop(region.start, region.end, false);
      });
      this.regions.on("region-updated", (region) => this.setLoop(region.start, region.end, false));
    } catch (error) {
      console.warn("waveform unavailable:", error);
      this.audio.controls = true;
    }
  }

  // The media element's timeupdate fires a few times a second; while looping, check every frame.
  watchLoop() {
    const step = () => {
      if (this.audio.paused || !this.loop) return;
      if (this.audio.currentTime >= this.loop.end) this.audio.currentTime = this.loop.start;
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  }

  show(item) {
    this.box.hidden = false;
    this.clearLoop();
    delete this.box.dataset.ready;
    this.loaded = this.ready.then(() => {
      let loading = null;
      if (this.wave) loading = this.loadWave(item).catch((error) => console.warn("waveform:", error));
      else this.audio.src = item.file;
      this.audio.playbackRate = Number(this.speed.value);
      return loading;
    }).then(() => { this.box.dataset.ready = String(item.id); });
    return this.loaded;
  }

  // Given the clip's length (as the server measured it at import), wavesurfer does not wait for the media
  // element's metadata: waiting, it keeps that listener's handle for good (wavesurfer 7.12), and with it the
  // clip, fetched as a blob: the browser held every clip of the session, one more each item (0.9 MB an item
  // for 30 s WAV clips, 130 MB after 150). A clip of unknown length lets go of that one handle once loaded.
  async loadWave(item) {
    const duration = Number(item.duration) > 0 ? Number(item.duration) : undefined;
    const handles = this.wave.mediaSubscriptions; // wavesurfer's own list (7.x)
    const before = Array.isArray(handles) ? handles.length : -1;
    await this.wave.load(item.file, undefined, duration);
    if (duration === undefined && this.wave.mediaSubscriptions === handles && handles.length === before + 1) {
      handles.pop()(); // the metadata listener this load added, fired (and so removed) already
    }
  }

  clear() {
    this.audio.pause();
    this.clearLoop();
  }

  toggle() {
    if (this.audio.paused) this.audio.play().catch((error) => console.warn("play:", error));
    else this.audio.pause();
  }

  seek(delta) {
    const duration = this.audio.duration || 0;
    this.audio.currentTime = clamp(this.audio.currentTime + delta, 0, duration);
  }

  setSpeed(value) {
    this.speed.value = String(value);
    this.audio.playbackRate = value;
  }

  stepSpeed(direction) {
    const index = SPEEDS.indexOf(Number(this.speed.value));
    this.setSpeed(SPEEDS[clamp((index < 0 ? 2 : index) + direction, 0, SPEEDS.length - 1)]);
  }

  setLoop(start, end, drawRegion = true) {
    if (end - start < 0.05) return;
    this.loop = { start, end };
    this.loopLabel.hidden = false;
    this.loopLabel.textContent = `loop ${formatTime(start)}–${formatTime(end)}`;
    if (drawRegion && this.regions) {
      this.regions.clearRegions();
      this.placing = true;
      try {
        this.regions.addRegion({ start, end, color: "rgba(11, 99, 197, 0.15)" });
      } finally {
        this.placing = false;
      }
    }
  }

  clearLoop() {
    this.loop = null;
    this.pendingStart = null;
    this.loopLabel.hidden = true;
    if (this.regions && !this.segments) this.regions.clearRegions();
  }

  key(event) {
    if (this.segments && ["[", "]", "\\", "{", "}"].includes(event.key)) return false; // the segments' keys
    switch (event.key) {
      case " ": this.toggle(); return true;
      case "ArrowLeft": this.seek(event.shiftKey ? -0.5 : -2); return true;
      case "ArrowRight": this.seek(event.shiftKey ? 0.5 : 2); return true;
      case "Home": this.audio.currentTime = this.loop ? this.loop.start : 0; return true;
      case ",": case "<": this.stepSpeed(-1); return true;
      case ".": case ">": this.stepSpeed(1); return true;
      case "[":
        this.pendingStart = this.audio.currentTime;
        this.loopLabel.hidden = false;
        this.loopLabel.textContent = `loop from ${formatTime(this.pendingStart)}… press ]`;
        return true;
      case "]": {
        const start = this.pendingStart ?? 0;
        if (this.audio.currentTime > start) this.setLoop(start, this.audio.currentTime);
        this.pendingStart = null;
        if (this.loop) this.audio.currentTime = this.loop.start;
        return true;
      }
      case "\\": this.clearLoop(); return true;
      default: return false;
    }
  }
}

export class TextViewer {
  constructor() {
    this.box = $("text-viewer");
  }

  show(item) {
    this.box.hidden = false;
    this.box.textContent = item.text;
    // A word or a short line (sentiment of words, intents) is read at a glance in the middle of the
    // stage, in a large type; a longer text keeps the reading column from its top.
    const text = item.text || "";
    this.box.classList.toggle("short", text.length <= 80 && !text.includes("\n"));
    this.box.scrollTop = 0;
  }

  clear() {
    this.box.textContent = "";
    this.box.classList.remove("short");
  }

  key(event) {
    const page = this.box.clientHeight * 0.9;
    const moves = { ArrowDown: 48, ArrowUp: -48, PageDown: page, PageUp: -page, End: 1e9, Home: -1e9 };
    if (!(event.key in moves)) return false;
    this.box.scrollBy({ top: moves[event.key] });
    return true;
  }
}
