// Presenter page: microphone -> AudioWorklet (16 kHz PCM16, 100 ms frames) -> WebSocket.
// Shows its own captions, listener counts and the connection state; reconnects with
// backoff and keeps up to MAX_BUFFERED_FRAMES of audio across a drop, so no speech is lost.
// The presenter key is in the link's fragment (#key=...), which browsers never send to a
// server, and travels in the socket's handshake as a subprotocol: never in a URL, so never in
// an access log. Without a key the socket relies on the organizer's login.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const S = config.strings;
  const MAX_BUFFERED_FRAMES = 300; // 30 s of 100 ms frames
  const MAX_SOCKET_BACKLOG = 256 * 1024; // bytes queued in the socket before we hold back
  const FATAL_CLOSES = new Set([1000, 4001, 4004, 4008, 4010]);
  const TOO_MANY_ATTEMPTS = 4429; // wrong keys were tried here lately: wait out the minute
  const SUBPROTOCOL = "captions.v1";
  const PRESENTER_LOST = new Set(["presenter_lost", "presenter_disconnected"]);
  const PING_MS = 20000;

  const $ = (id) => document.getElementById(id);
  const ui = {
    connection: $("connection"), status: $("status"), alert: $("alert"), linkWarning: $("link-warning"),
    device: $("device"), level: $("level"), mic: $("mic"), pause: $("pause"), end: $("end"),
    buffered: $("buffered"), counts: $("counts"), preview: $("preview"),
    previewLanguage: $("preview-language"), showQr: $("show-qr"), hideQr: $("hide-qr"),
    overlay: $("qr-overlay"),
  };

  const state = {
    socket: null,
    live: false, // the server said "live" on this connection, after its greeting
    greeted: false, // this connection's first status (the event's, not yet ours) has come
    reclaimed: false, // "start" was sent again on this connection after the server lost us
    wantLive: false, // the presenter is speaking (microphone on, not paused)
    fatal: false,
    attempt: 0,
    reconnectTimer: null,
    pingTimer: null,
    outbox: [], // frames waiting for a live connection
    dropped: 0,
    mic: null, // {stream, context, node, source}
    eventStatus: "waiting",
    levelRms: 0,
    wakeLock: null,
  };

  // ---- messages -------------------------------------------------------------------

  function showAlert(text, kind) {
    ui.alert.textContent = text;
    ui.alert.className = "alert alert-" + (kind || "error");
    ui.alert.hidden = !text;
  }

  function showLinkDown(down) {
    // Its own element: engine notices and alerts come and go without hiding it.
    ui.linkWarning.textContent = down ? S.link_down : "";
    ui.linkWarning.hidden = !down;
  }

  function setConnection(name) {
    ui.connection.textContent = S["conn_" + name] || name;
    ui.connection.className = "pill pill-" + name;
    ui.connection.dataset.state = name;
  }

  function setEventStatus(status) {
    state.eventStatus = status;
    ui.status.textContent = S["status_" + status] || status;
    ui.status.className = "pill pill-" + status;
    ui.status.dataset.state = status;
    document.body.dataset.status = status;
    updateButtons();
  }

  function updateButtons() {
    const ended = state.eventStatus === "ended" || state.fatal;
    ui.mic.textContent = state.mic ? S.stop_mic : S.start_mic;
    ui.mic.disabled = ended;
    ui.pause.disabled = ended || !state.mic;
    ui.pause.textContent = state.mic && !state.wantLive ? S.resume : S.pause;
    ui.end.disabled = ended;
  }

  // ---- socket ---------------------------------------------------------------------

  function presenterKey() {
    const key = new URLSearchParams(location.hash.slice(1)).get("key") || "";
    return /^[A-Za-z0-9_-]{1,128}$/.test(key) ? key : ""; // a subprotocol allows no other characters
  }

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}/ws/events/${config.slug}/presenter/`;
  }

  function socketProtocols() {
    const key = presenterKey();
    return key ? [SUBPROTOCOL, "key." + key] : [SUBPROTOCOL];
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    setConnection(state.attempt ? "reconnecting" : "connecting");
    const socket = new WebSocket(socketUrl(), socketProtocols());
    socket.binaryType = "arraybuffer";
    state.socket = socket;
    state.greeted = false;
    state.reclaimed = false;
    showLinkDown(false); // the link state belongs to one connection
    socket.onopen = () => onOpen(socket);
    socket.onmessage = (event) => {
      if (socket === state.socket && typeof event.data === "string") onMessage(JSON.parse(event.data));
    };
    socket.onclose = (event) => onClose(socket, event);
  }

  function onOpen(socket) {
    state.attempt = 0;
    setConnection("connected");
    if (ui.previewLanguage) send({ type: "preview", language: ui.previewLanguage.value });
    if (state.wantLive) send({ type: "start" });
    clearInterval(state.pingTimer);
    state.pingTimer = setInterval(() => send({ type: "ping" }), PING_MS);
  }

  function onClose(socket, event) {
    if (socket !== state.socket) return;
    state.live = false;
    state.socket = null;
    clearInterval(state.pingTimer);
    if (state.fatal || FATAL_CLOSES.has(event.code)) {
      state.fatal = true;
      setConnection("closed");
      if (event.code === 4001 && !ui.alert.textContent) showAlert(S.unauthorized);
      if (event.code === 4004) showAlert(S.no_event);
      updateButtons();
      return;
    }
    setConnection("reconnecting");
    if (event.code === TOO_MANY_ATTEMPTS) {
      state.reconnectTimer = setTimeout(connect, 60000);
      return;
    }
    // Short waits: audio is piling up in the buffer meanwhile.
    const delay = Math.min(5000, 500 * 2 ** state.attempt) * (0.75 + Math.random() * 0.5);
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
    }
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "status":
        onStatus(msg);
        break;
      case "preview":
        showPreview(msg);
        break;
      case "listeners":
        showCounts(msg.counts || {});
        break;
      case "delay":
        if (window.DelayPanel) DelayPanel.render($("delay-panel"), msg);
        break;
      case "engine":
        onEngine(msg);
        break;
      case "link":
        onLink(msg);
        break;
      case "error":
        onError(msg);
        break;
      case "pong":
        break;
      default:
        console.warn("unknown message from the server", msg);
    }
  }

  function onStatus(msg) {
    const greeting = !state.greeted;
    state.greeted = true;
    setEventStatus(msg.status);
    // The greeting describes the event, not this connection: it still says "live" when a server
    // died under us, yet audio is refused until our own "start" is answered. The outbox waits.
    state.live = msg.status === "live" && !greeting;
    if (state.live) {
      state.reclaimed = false;
      flush();
    }
    if (!greeting && msg.status === "paused" && PRESENTER_LOST.has(msg.reason)) reclaim();
    if (msg.status === "ended") {
      state.fatal = true;
      stopMic();
      showAlert(S.ended, "info");
    }
    if (msg.reason === "engine_failed") showAlert(S.engine_failed);
  }

  function reclaim() {
    // The server gave up on us (a lease ran out) while we are still here and speaking; once per
    // connection until live again, so a server that keeps saying so is not asked in a loop.
    if (!state.wantLive || state.reclaimed) return;
    state.reclaimed = true;
    send({ type: "start" });
  }

  function onLink(msg) {
    // Not fatal: speech is still captioned and saved; listeners catch up when it recovers.
    if (msg.state === "down" || msg.state === "up") showLinkDown(msg.state === "down");
    else console.warn("unknown link state", msg);
  }

  function onEngine(msg) {
    switch (msg.state) {
      case "overloaded":
        showAlert(S.engine_overloaded, "warning");
        break;
      case "reconnecting":
        showAlert(S.engine_reconnecting, "warning");
        break;
      case "recovered":
        showAlert("");
        break;
      default:
        console.warn("unknown engine state", msg);
    }
  }

  function onError(msg) {
    switch (msg.code) {
      case "unauthorized":
        state.fatal = true;
        showAlert(S.unauthorized);
        break;
      case "event_ended":
        state.fatal = true;
        showAlert(S.ended, "info");
        break;
      case "too_many_attempts":
        showAlert(S.too_many_attempts || msg.detail);
        break;
      case "replaced":
        state.fatal = true;
        stopMic();
        showAlert(S.replaced);
        break;
      case "engine_busy": // this server captions as many talks as it can: ask again shortly
        showAlert(msg.detail || msg.code, "warning");
        if (state.wantLive) setTimeout(() => state.wantLive && send({ type: "start" }), 5000);
        break;
      case "engine_failed":
        showAlert(S.engine_failed + (msg.detail ? " (" + msg.detail + ")" : ""));
        if (!msg.fatal && state.wantLive) setTimeout(() => state.wantLive && send({ type: "start" }), 3000);
        break;
      case "not_live":
        break; // a frame raced a pause; harmless
      default:
        console.warn("error from the server", msg);
        if (msg.fatal) showAlert(msg.detail || msg.code);
    }
    updateButtons();
  }

  // ---- audio ----------------------------------------------------------------------

  // Fetched now, so the microphone can start even while the server is unreachable.
  const workletModule = fetch(config.worklet)
    .then((response) => (response.ok ? response.blob() : Promise.reject(response.status)))
    .then((blob) => URL.createObjectURL(new Blob([blob], { type: "text/javascript" })))
    .catch(() => config.worklet);

  function queueFrame(buffer) {
    if (!state.wantLive) return; // paused: the microphone stays open but nothing is sent
    state.outbox.push(buffer);
    if (state.outbox.length > MAX_BUFFERED_FRAMES) {
      state.outbox.shift();
      if (!state.dropped) showAlert(S.audio_lost, "warning");
      state.dropped += 1;
    }
    flush();
  }

  function flush() {
    const socket = state.socket;
    if (state.live && socket && socket.readyState === WebSocket.OPEN) {
      while (state.outbox.length && socket.bufferedAmount < MAX_SOCKET_BACKLOG) {
        socket.send(state.outbox.shift());
      }
    }
    showBuffered();
  }

  function showBuffered() {
    const seconds = state.outbox.length / 10;
    ui.buffered.hidden = seconds < 1;
    ui.buffered.textContent = S.buffered.replace("%s", seconds.toFixed(0));
  }

  async function startMic() {
    if (!navigator.mediaDevices || !window.AudioWorkletNode) {
      showAlert(S.no_audio_api);
      return;
    }
    const audio = { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 };
    if (ui.device.value) audio.deviceId = { exact: ui.device.value };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio });
    } catch (err) {
      showAlert(err && err.name === "NotAllowedError" ? S.mic_refused : S.mic_failed + " " + (err.message || err.name));
      return;
    }
    const context = new AudioContext({ latencyHint: "interactive" });
    try {
      await context.audioWorklet.addModule(await workletModule);
    } catch (err) {
      stream.getTracks().forEach((track) => track.stop());
      context.close();
      showAlert(S.worklet_failed);
      return;
    }
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, "pcm-worklet", { numberOfInputs: 1, numberOfOutputs: 0 });
    node.port.onmessage = (event) => onWorklet(event.data);
    source.connect(node);
    if (context.state === "suspended") await context.resume();
    state.mic = { stream, context, node, source };
    stream.getAudioTracks()[0].addEventListener("ended", () => showAlert(S.mic_lost));
    showAlert("");
    listDevices();
    goLive();
  }

  function onWorklet(data) {
    switch (data.type) {
      case "frame":
        queueFrame(data.pcm);
        break;
      case "level":
        state.levelRms = data.rms;
        break;
      default:
        console.warn("unknown worklet message", data);
    }
  }

  function stopMic() {
    const mic = state.mic;
    state.mic = null;
    state.wantLive = false;
    if (mic) {
      mic.source.disconnect();
      mic.node.port.onmessage = null;
      mic.stream.getTracks().forEach((track) => track.stop());
      mic.context.close();
    }
    state.levelRms = 0;
    if (state.wakeLock) state.wakeLock.release();
    updateButtons();
  }

  async function holdWakeLock() {
    // A laptop that sleeps mid-talk stops the microphone.
    if (!("wakeLock" in navigator) || state.wakeLock || document.visibilityState !== "visible") return;
    try {
      state.wakeLock = await navigator.wakeLock.request("screen");
      state.wakeLock.addEventListener("release", () => (state.wakeLock = null));
    } catch (err) {
      state.wakeLock = null;
    }
  }

  function goLive() {
    holdWakeLock();
    state.wantLive = true;
    send({ type: "start" });
    updateButtons();
  }

  function pause() {
    state.wantLive = false;
    state.outbox = [];
    showBuffered();
    send({ type: "pause" });
    updateButtons();
  }

  async function listDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "audioinput");
    const current = ui.device.value;
    while (ui.device.options.length > 1) ui.device.remove(1);
    devices.forEach((device, i) => {
      if (!device.deviceId || device.deviceId === "default") return;
      const option = new Option(device.label || S.microphone + " " + (i + 1), device.deviceId);
      ui.device.add(option);
    });
    ui.device.value = current;
  }

  function drawLevel() {
    // RMS in dBFS mapped onto 0..100 % from -60 dB to 0 dB.
    const db = state.levelRms > 0 ? 20 * Math.log10(state.levelRms) : -100;
    const percent = Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
    ui.level.style.width = percent.toFixed(0) + "%";
    ui.level.className = "meter-fill" + (db > -3 ? " clip" : db > -45 ? " ok" : "");
    requestAnimationFrame(drawLevel);
  }

  // ---- preview and counts ---------------------------------------------------------

  function previewLine(seq) {
    let line = ui.preview.querySelector(`[data-seq="${seq}"]`);
    if (!line) {
      const empty = ui.preview.querySelector(".empty");
      if (empty) empty.remove();
      line = document.createElement("div");
      line.dataset.seq = String(seq);
      line.className = "line partial";
      const original = document.createElement("p");
      original.className = "original";
      const translated = document.createElement("p");
      translated.className = "translated";
      line.append(original, translated);
      ui.preview.append(line);
      while (ui.preview.children.length > 50) ui.preview.firstElementChild.remove();
    }
    return line;
  }

  function showPreview(msg) {
    if (msg.final && !msg.source_text) {
      const stale = ui.preview.querySelector(`[data-seq="${msg.seq}"]`);
      if (stale) stale.remove(); // the engine withdrew a partial that was not speech
      return;
    }
    // A moderator's correction (revision) replaces a line in place; older lines are gone.
    if (msg.revision && !ui.preview.querySelector(`[data-seq="${msg.seq}"]`)) return;
    const line = previewLine(msg.seq);
    line.className = "line " + (msg.final ? "final" : "partial");
    line.querySelector(".original").textContent = msg.source_text;
    const translated = line.querySelector(".translated");
    translated.textContent = msg.text || "";
    translated.lang = msg.language || "";
    ui.preview.scrollTop = ui.preview.scrollHeight;
  }

  function showCounts(counts) {
    for (const row of ui.counts.querySelectorAll("tr[data-lang]")) {
      row.querySelector(".n").textContent = String(counts[row.dataset.lang] || 0);
      row.querySelector(".s").textContent = String(counts["speech:" + row.dataset.lang] || 0);
    }
  }

  // ---- controls -------------------------------------------------------------------

  ui.mic.addEventListener("click", () => {
    if (state.mic) {
      stopMic();
      if (state.eventStatus === "live") send({ type: "pause" });
      state.outbox = [];
      showBuffered();
    } else {
      startMic();
    }
  });

  ui.pause.addEventListener("click", () => (state.wantLive ? pause() : goLive()));

  ui.end.addEventListener("click", () => {
    if (!confirm(S.confirm_end)) return;
    stopMic();
    send({ type: "stop" });
  });

  ui.device.addEventListener("change", async () => {
    if (!state.mic) return;
    const wasLive = state.wantLive;
    stopMic();
    await startMic();
    if (!wasLive && state.mic) pause();
  });

  if (ui.previewLanguage) {
    ui.previewLanguage.addEventListener("change", () => send({ type: "preview", language: ui.previewLanguage.value }));
  }

  ui.showQr.addEventListener("click", () => {
    ui.overlay.hidden = false;
    if (ui.overlay.requestFullscreen) ui.overlay.requestFullscreen().catch(() => {});
  });
  ui.hideQr.addEventListener("click", () => {
    ui.overlay.hidden = true;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  });
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement) ui.overlay.hidden = true;
  });

  window.addEventListener("beforeunload", (event) => {
    if (state.mic) event.preventDefault(); // leaving stops the captions: ask first
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.mic) holdWakeLock();
  });

  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", listDevices);
  }
  if (!window.isSecureContext) showAlert(S.insecure, "warning");
  // A new link pasted into this tab changes only the fragment, which loads nothing.
  window.addEventListener("hashchange", () => location.reload());

  updateButtons();
  listDevices();
  requestAnimationFrame(drawLevel);
  connect();
})();
