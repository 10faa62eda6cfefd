// Display page: the newest captions of one language, two big lines, for a projector or OBS.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const S = config.strings;
  const FATAL_CLOSES = new Set([4004, 4005]); // 4029 (too slow to keep up) reconnects like a drop
  const PRESENTER_LOST = new Set(["presenter_lost", "presenter_disconnected"]);
  const KEEP = 6; // utterances kept in the text; CSS shows the last two lines of them

  const textBox = document.getElementById("display-text");
  const stateBox = document.getElementById("display-state");
  const state = {
    socket: null,
    attempt: 0,
    lastFinal: null,
    utterances: new Map(),
    status: null,
    reason: null,
    link: "up", // "down": the socket is open but its server cannot reach Redis
    fatal: false,
  };

  function socketUrl() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // The history in one message (docs/websocket-api.md).
    const after = state.lastFinal === null ? "" : `&after=${state.lastFinal}`;
    return `${scheme}//${location.host}/ws/events/${config.slug}/audience/${config.language}/?history=frame${after}`;
  }

  function connect() {
    const socket = new WebSocket(socketUrl());
    state.socket = socket;
    state.link = "up"; // the link state belongs to one socket
    socket.onopen = () => {
      state.attempt = 0;
      showState();
    };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (state.fatal || FATAL_CLOSES.has(event.code)) return;
      setTimeout(() => {
        if (!state.socket || state.socket.readyState !== WebSocket.OPEN) showState(S.reconnecting);
      }, 1500);
      const delay = Math.min(15000, 500 * 2 ** state.attempt) * (0.75 + Math.random() * 0.5);
      state.attempt += 1;
      setTimeout(connect, delay);
    };
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "status":
        onStatus(msg);
        break;
      case "link":
        onLink(msg);
        break;
      case "caption":
        onCaption(msg);
        break;
      case "history":
        msg.captions.forEach((caption) => onCaption(caption, false));
        endHistory(msg.last_seq);
        break;
      case "history_end":
        endHistory(msg.last_seq);
        break;
      case "error":
        if (msg.fatal) {
          state.fatal = true;
          showState(msg.code === "language_not_offered" ? S.not_offered : msg.detail);
        }
        break;
      default:
        console.warn("unknown message from the server", msg);
    }
  }

  function endHistory(lastSeq) {
    for (const [seq, item] of state.utterances) {
      if (!item.final && lastSeq !== null && seq <= lastSeq) state.utterances.delete(seq);
    }
    render();
  }

  function onStatus(msg) {
    state.status = msg.status;
    state.reason = msg.reason || null;
    document.body.dataset.status = msg.status;
    if (msg.status !== "live") dropPartials(); // an utterance cut off by a pause may never get its final
    showState();
  }

  function onLink(msg) {
    if (msg.state !== "up" && msg.state !== "down") {
      console.warn("unknown link state", msg);
      return;
    }
    state.link = msg.state;
    if (msg.state === "down") dropPartials(); // frozen; their finals come with the missed ones
    showState();
  }

  function dropPartials() {
    for (const [seq, item] of state.utterances) if (!item.final) state.utterances.delete(seq);
    render();
  }

  function onCaption(msg, draw = true) {
    const known = state.utterances.get(msg.seq);
    // A correction of a line this display no longer shows.
    if (msg.revision && !known && state.lastFinal !== null && msg.seq <= state.lastFinal) return;
    if (known && known.final && !(msg.revision > (known.revision || 0))) return;
    if (msg.final && (state.lastFinal === null || msg.seq > state.lastFinal)) state.lastFinal = msg.seq;
    if (msg.final && !msg.text) state.utterances.delete(msg.seq);
    else state.utterances.set(msg.seq, { text: msg.text, final: msg.final, revision: msg.revision || 0 });
    const seqs = [...state.utterances.keys()].sort((a, b) => a - b);
    seqs.slice(0, Math.max(0, seqs.length - KEEP)).forEach((seq) => state.utterances.delete(seq));
    if (draw) render();
  }

  function render() {
    const seqs = [...state.utterances.keys()].sort((a, b) => a - b);
    textBox.replaceChildren(
      ...seqs.map((seq) => {
        const span = document.createElement("span");
        const item = state.utterances.get(seq);
        span.className = item.final ? "final" : "partial";
        span.textContent = item.text + " ";
        return span;
      })
    );
  }

  function showState(problem) {
    let text = problem || "";
    if (!text && state.link === "down") text = S.reconnecting;
    if (!text && state.status === "paused" && PRESENTER_LOST.has(state.reason)) text = S.presenter_lost;
    if (!text && state.status && state.status !== "live") text = S[state.status] || "";
    stateBox.textContent = text;
    stateBox.hidden = !text;
  }

  connect();
})();
