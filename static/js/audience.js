// Audience page: live captions in one language, with history, reconnection without gaps,
// optional original text, optional speech, and reading comfort settings.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const S = config.strings;
  const STORE = "live-captions.";
  const FATAL_CLOSES = new Set([4004, 4005]); // 4029 (too slow to keep up) reconnects like a drop
  const PRESENTER_LOST = new Set(["presenter_lost", "presenter_disconnected"]);
  const SPEECH_WAIT_MS = 2500; // how long a final waits for the engine's speech before the browser speaks
  const FONT_STEPS = [0.9, 1.1, 1.3, 1.6, 2, 2.5, 3.2];
  const MAX_CAPTIONS = 1000; // kept on the page; older ones are in the transcript

  const $ = (id) => document.getElementById(id);
  const ui = {
    state: $("state"), language: $("language"), smaller: $("smaller"), bigger: $("bigger"),
    theme: $("theme"), original: $("original"), listen: $("listen"), captions: $("captions"),
    stable: $("stable"),
    empty: $("empty"), backToLive: $("back-to-live"), announcer: $("announcer"), audio: $("speech"),
    viewSettings: document.querySelector(".view-settings"), notice: $("notice"), unlock: $("unlock-audio"),
  };

  const store = {
    get(name, fallback) {
      try {
        const value = localStorage.getItem(STORE + name);
        return value === null ? fallback : value;
      } catch (err) {
        return fallback;
      }
    },
    set(name, value) {
      try {
        localStorage.setItem(STORE + name, String(value));
      } catch (err) {
        /* private mode: settings last for this page only */
      }
    },
  };

  // A remembered language wins over the browser's, unless the link chose one (?lang=).
  const remembered = store.get("lang", "");
  if (!config.langFromUrl && remembered && remembered !== config.language && config.languages.includes(remembered)) {
    const url = new URL(location.href);
    url.searchParams.set("lang", remembered);
    location.replace(url.toString());
    return;
  }
  store.set("lang", config.language);

  const state = {
    socket: null,
    attempt: 0,
    fatal: false,
    reconnectTimer: null,
    lastFinal: null, // seq of the newest final held: resume point after a drop
    inHistory: true,
    eventStatus: null,
    statusReason: null,
    connection: "connecting",
    link: "up", // "down": this socket is open but its server cannot reach Redis, so no captions come
    catchingUp: false, // between link "up" and the status after it: missed finals, not live ones
    autoScroll: true,
    speechQueue: [],
    speechPlaying: false,
    engineSpeaks: false, // the engine sent speech for this language at least once
    spoken: new Set(),
    wakeLock: null,
  };

  // ---- settings -------------------------------------------------------------------

  function applyFont(step) {
    const index = Math.max(0, Math.min(FONT_STEPS.length - 1, step));
    document.documentElement.style.setProperty("--caption-size", FONT_STEPS[index] + "rem");
    store.set("font", index);
    return index;
  }

  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    ui.theme.value = theme;
    store.set("theme", theme);
  }

  let fontStep = applyFont(Number(store.get("font", 3)));
  const prefersDark = window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches;
  applyTheme(store.get("theme", prefersDark ? "dark" : "light"));
  const wantOriginal = () => Boolean(ui.original && ui.original.checked && config.language !== config.sourceLanguage);
  if (ui.original) ui.original.checked = store.get("original", "0") === "1";
  ui.listen.checked = store.get("listen", "0") === "1";
  // "stable": the server sends finals only, so nothing on screen ever changes under the reader.
  if (ui.stable) ui.stable.checked = store.get("mode", "fast") === "stable";
  document.body.classList.toggle("show-original", wantOriginal());

  // ---- connection -----------------------------------------------------------------

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const params = new URLSearchParams();
    params.set("history", "frame"); // the history in one message (docs/websocket-api.md)
    if (state.lastFinal !== null && !state.refetchHistory) params.set("after", String(state.lastFinal));
    if (wantOriginal()) params.set("original", "1");
    if (ui.listen.checked) params.set("speech", "1");
    if (ui.stable && ui.stable.checked) params.set("mode", "stable");
    const query = params.toString();
    return `${scheme}//${location.host}/ws/events/${config.slug}/audience/${config.language}/${query ? "?" + query : ""}`;
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    if (!state.attempt) setConnection("connecting");
    const socket = new WebSocket(socketUrl());
    state.refetchHistory = false;
    state.socket = socket;
    state.inHistory = true;
    state.link = "up"; // the link state belongs to one socket
    state.catchingUp = false;
    socket.onopen = () => {
      state.attempt = 0;
      setConnection("connected");
      if (window.ListenerDelay) ListenerDelay.start(socket); // clock offset, for the own delay
    };
    socket.onmessage = (event) => {
      if (socket === state.socket) onMessage(JSON.parse(event.data)); // not a replaced socket
    };
    socket.onclose = (event) => onClose(socket, event);
  }

  function isOpen() {
    return Boolean(state.socket && state.socket.readyState === WebSocket.OPEN);
  }

  function reconnectNow() {
    const old = state.socket;
    state.socket = null;
    if (old) old.close();
    connect();
  }

  function onClose(socket, event) {
    if (socket !== state.socket) return; // replaced on purpose (a setting changed)
    state.socket = null;
    if (state.fatal || FATAL_CLOSES.has(event.code)) {
      state.fatal = true;
      setConnection("closed");
      return;
    }
    // A blip that heals within a moment is not worth alarming the reader.
    setTimeout(() => !isOpen() && !state.fatal && setConnection("reconnecting"), 1500);
    const delay = Math.min(15000, 500 * 2 ** state.attempt) * (0.75 + Math.random() * 0.5);
    state.attempt += 1;
    state.reconnectTimer = setTimeout(connect, delay);
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "status":
        state.catchingUp = false;
        setEventStatus(msg.status, msg.reason);
        break;
      case "link":
        onLink(msg);
        break;
      case "caption":
        showCaption(msg);
        break;
      case "history":
        msg.captions.forEach((caption) => showCaption(caption));
        endHistory(msg.last_seq);
        break;
      case "history_end":
        endHistory(msg.last_seq);
        break;
      case "speech":
        onSpeech(msg);
        break;
      case "clock":
        if (window.ListenerDelay) ListenerDelay.onClock(msg);
        break;
      case "error":
        onError(msg);
        break;
      default:
        console.warn("unknown message from the server", msg);
    }
  }

  function endHistory(lastSeq) {
    state.inHistory = false;
    if (lastSeq !== null && lastSeq !== undefined) {
      noteFinal(lastSeq);
      dropStalePartials(lastSeq);
    }
    scrollToLive(false);
  }

  function onLink(msg) {
    if (msg.state !== "up" && msg.state !== "down") {
      console.warn("unknown link state", msg);
      return;
    }
    // Down: partials are frozen and their finals come later with the missed ones (or never).
    if (msg.state === "down") dropPartials();
    // Up: the missed finals follow, then a status; they are history, not news to announce.
    else if (state.link === "down") state.catchingUp = true;
    state.link = msg.state;
    renderState();
  }

  function onError(msg) {
    switch (msg.code) {
      case "language_not_offered":
        state.fatal = true;
        showProblem(S.not_offered);
        break;
      default:
        console.warn("error from the server", msg);
    }
  }

  // ---- states ---------------------------------------------------------------------

  function setConnection(name) {
    state.connection = name;
    renderState();
  }

  function setEventStatus(status, reason) {
    state.eventStatus = status;
    state.statusReason = reason || null;
    document.body.dataset.status = status;
    if (status !== "live") dropPartials(); // an utterance cut off by a pause may never get its final
    renderState();
    if (status === "live") holdWakeLock();
    if (status === "ended") releaseWakeLock();
  }

  function statusKey() {
    if (state.eventStatus === "paused" && PRESENTER_LOST.has(state.statusReason)) return "presenter_lost";
    return state.eventStatus || "connecting";
  }

  function renderState() {
    let key = statusKey();
    if (state.connection === "reconnecting" || state.link === "down") key = "reconnecting";
    else if (state.connection === "connecting" && !state.eventStatus) key = "connecting";
    if (state.fatal && state.problem) key = "problem";
    ui.state.textContent = key === "problem" ? state.problem : S[key] || key;
    ui.state.className = "state state-" + key;
    ui.state.dataset.state = key;
  }

  function showProblem(text) {
    state.problem = text;
    renderState();
  }

  // ---- captions -------------------------------------------------------------------

  function noteFinal(seq) {
    if (state.lastFinal === null || seq > state.lastFinal) state.lastFinal = seq;
  }

  function dropStalePartials(lastSeq) {
    // A partial older than the last final whose final never came was withdrawn while away.
    for (const line of ui.captions.querySelectorAll(".caption.partial")) {
      if (Number(line.dataset.seq) <= lastSeq) line.remove();
    }
  }

  function dropPartials() {
    for (const line of ui.captions.querySelectorAll(".caption.partial")) line.remove();
  }

  function captionElement(seq) {
    return ui.captions.querySelector(`.caption[data-seq="${seq}"]`);
  }

  function newCaptionElement(seq) {
    const line = document.createElement("p");
    line.className = "caption partial";
    line.dataset.seq = String(seq);
    const text = document.createElement("span");
    text.className = "text";
    text.lang = config.language;
    const source = document.createElement("span");
    source.className = "source";
    source.lang = config.sourceLanguage;
    line.append(text, source);
    // Keep speaking order even if an utterance's first message arrives late.
    const later = Array.from(ui.captions.querySelectorAll(".caption")).find((el) => Number(el.dataset.seq) > seq);
    ui.captions.insertBefore(line, later || null);
    if (ui.empty) ui.empty.hidden = true;
    const all = ui.captions.querySelectorAll(".caption");
    for (let i = 0; i < all.length - MAX_CAPTIONS; i++) all[i].remove(); // a long talk stays light
    return line;
  }

  function showCaption(msg) {
    let line = captionElement(msg.seq);
    if (line && line.classList.contains("final")) {
      // Already final: a moderator's correction (a higher revision) replaces its text in place;
      // else only fill in the original text when a history replay brings it.
      if (msg.revision > Number(line.dataset.revision || 0)) showRevision(line, msg);
      else if (msg.source_text) line.querySelector(".source").textContent = msg.source_text;
      return;
    }
    // A correction of a final this page no longer shows (trimmed, or withdrawn meanwhile).
    if (msg.revision && !line && state.lastFinal !== null && msg.seq <= state.lastFinal) return;
    if (msg.final) noteFinal(msg.seq);
    if (msg.final && !msg.text) {
      if (line) line.remove(); // a withdrawn partial that was not speech
      return;
    }
    if (!line) line = newCaptionElement(msg.seq);
    line.classList.toggle("partial", !msg.final);
    line.classList.toggle("final", msg.final);
    line.querySelector(".text").textContent = msg.text;
    if (msg.source_text !== undefined) line.querySelector(".source").textContent = msg.source_text;
    if (msg.revision) line.dataset.revision = String(msg.revision);
    if (msg.final && !state.inHistory && !state.catchingUp) onLiveFinal(msg);
    scrollToLive(false);
  }

  function showRevision(line, msg) {
    line.dataset.revision = String(msg.revision);
    line.querySelector(".text").textContent = msg.text;
    if (msg.source_text !== undefined) line.querySelector(".source").textContent = msg.source_text;
    line.classList.add("revised");
  }

  function onLiveFinal(msg) {
    if (window.ListenerDelay) ListenerDelay.onFinal(msg);
    ui.announcer.textContent = msg.text;
    if (ui.listen.checked && !state.engineSpeaks) {
      setTimeout(() => speakWithBrowser(msg.seq, msg.text), SPEECH_WAIT_MS);
    }
  }

  // ---- scrolling ------------------------------------------------------------------

  function atBottom() {
    const box = ui.captions;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 48;
  }

  function scrollToLive(force) {
    if (force) state.autoScroll = true;
    if (state.autoScroll) ui.captions.scrollTop = ui.captions.scrollHeight;
    ui.backToLive.hidden = state.autoScroll;
  }

  ui.captions.addEventListener("scroll", () => {
    state.autoScroll = atBottom();
    ui.backToLive.hidden = state.autoScroll;
  });
  ui.backToLive.addEventListener("click", () => scrollToLive(true));

  // ---- listening ------------------------------------------------------------------

  function onSpeech(msg) {
    state.engineSpeaks = true;
    if (!ui.listen.checked || state.spoken.has(msg.seq)) return;
    state.spoken.add(msg.seq);
    state.speechQueue.push(msg.url);
    playNext();
  }

  function playNext() {
    if (state.speechPlaying || !state.speechQueue.length) return;
    state.speechPlaying = true;
    const url = state.speechQueue.shift();
    ui.audio.src = url;
    ui.audio.play().catch((err) => {
      if (!err || err.name !== "NotAllowedError") return; // a bad clip: "error" moves on
      // Autoplay refused (no tap yet on this page): keep the clip and ask for a tap.
      state.speechQueue.unshift(url);
      state.speechPlaying = false;
      ui.unlock.hidden = false;
    });
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(state.noticeTimer);
    state.noticeTimer = setTimeout(() => (ui.notice.hidden = true), 8000);
  }

  ui.audio.addEventListener("ended", () => {
    state.speechPlaying = false;
    playNext();
  });
  ui.audio.addEventListener("error", () => {
    state.speechPlaying = false;
    playNext();
  });

  function speakWithBrowser(seq, text) {
    if (state.engineSpeaks || state.spoken.has(seq) || !ui.listen.checked) return;
    if (!("speechSynthesis" in window)) return;
    state.spoken.add(seq);
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.lang = config.language;
    const voices = speechSynthesis.getVoices();
    const base = config.language.split("-")[0];
    const voice = voices.find((v) => v.lang === config.language) || voices.find((v) => v.lang.split("-")[0] === base);
    if (voice) utterance.voice = voice;
    else if (voices.length) showNotice(S.listen_unavailable);
    utterance.onerror = (event) => {
      if (event.error === "not-allowed") ui.unlock.hidden = false; // needs a tap first
    };
    speechSynthesis.speak(utterance);
  }

  function unlockAudio() {
    // Playing something inside the tap lets later clips play without one (iOS, Chrome).
    ui.unlock.hidden = true;
    if (!state.speechPlaying && !state.speechQueue.length) {
      ui.audio.src = silentWav();
      ui.audio.play().catch(() => {});
    }
    if ("speechSynthesis" in window) {
      speechSynthesis.cancel();
      speechSynthesis.speak(new SpeechSynthesisUtterance(""));
    }
  }

  function silentWav() {
    const samples = 160;
    const bytes = new DataView(new ArrayBuffer(44 + samples * 2));
    const text = (offset, s) => [...s].forEach((c, i) => bytes.setUint8(offset + i, c.charCodeAt(0)));
    text(0, "RIFF");
    bytes.setUint32(4, 36 + samples * 2, true);
    text(8, "WAVEfmt ");
    bytes.setUint32(16, 16, true);
    bytes.setUint16(20, 1, true);
    bytes.setUint16(22, 1, true);
    bytes.setUint32(24, 16000, true);
    bytes.setUint32(28, 32000, true);
    bytes.setUint16(32, 2, true);
    bytes.setUint16(34, 16, true);
    text(36, "data");
    bytes.setUint32(40, samples * 2, true);
    return URL.createObjectURL(new Blob([bytes.buffer], { type: "audio/wav" }));
  }

  // ---- wake lock ------------------------------------------------------------------

  async function holdWakeLock() {
    if (!("wakeLock" in navigator) || state.wakeLock || document.visibilityState !== "visible") return;
    try {
      state.wakeLock = await navigator.wakeLock.request("screen");
      state.wakeLock.addEventListener("release", () => (state.wakeLock = null));
    } catch (err) {
      state.wakeLock = null; // battery saver or not allowed: the screen may dim
    }
  }

  function releaseWakeLock() {
    if (state.wakeLock) state.wakeLock.release();
  }

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.eventStatus === "live") holdWakeLock();
  });

  // ---- controls -------------------------------------------------------------------

  ui.language.addEventListener("change", () => {
    store.set("lang", ui.language.value);
    const url = new URL(location.href);
    url.searchParams.set("lang", ui.language.value);
    location.assign(url.toString()); // re-rendered in the new language
  });
  ui.smaller.addEventListener("click", () => (fontStep = applyFont(fontStep - 1)));
  ui.bigger.addEventListener("click", () => (fontStep = applyFont(fontStep + 1)));
  ui.theme.addEventListener("change", () => applyTheme(ui.theme.value));
  document.addEventListener("click", (event) => {
    if (ui.viewSettings.open && !ui.viewSettings.contains(event.target)) ui.viewSettings.open = false;
  });
  if (ui.original) {
    ui.original.addEventListener("change", () => {
      store.set("original", ui.original.checked ? "1" : "0");
      document.body.classList.toggle("show-original", wantOriginal());
      state.refetchHistory = wantOriginal(); // replayed history brings the originals too
      reconnectNow();
    });
  }
  if (ui.stable) {
    ui.stable.addEventListener("change", () => {
      store.set("mode", ui.stable.checked ? "stable" : "fast");
      if (ui.stable.checked) dropPartials();
      reconnectNow();
    });
  }
  ui.unlock.addEventListener("click", () => {
    unlockAudio();
    playNext();
  });
  ui.listen.addEventListener("change", () => {
    store.set("listen", ui.listen.checked ? "1" : "0");
    if (ui.listen.checked) unlockAudio();
    else {
      ui.unlock.hidden = true;
      state.speechQueue = [];
      ui.audio.pause();
      state.speechPlaying = false;
      if ("speechSynthesis" in window) speechSynthesis.cancel();
    }
    reconnectNow();
  });

  connect();
})();
