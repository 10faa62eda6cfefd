// A phone's own caption delay. At connect a few clock pings measure the offset between this
// device's clock and the server's (NTP-style: the answer with the shortest round trip wins);
// then every live final carries "heard", when its last word's audio reached the server, and
// the delay shown is arrival + offset - heard. A warning appears when this connection falls
// behind: over WARN_SECONDS, or growing final after final.
"use strict";

window.ListenerDelay = (function () {
  const PINGS = 5;
  const PING_GAP_MS = 250;
  const WARN_SECONDS = 3;
  const GROWING = 4; // finals in a row, each later than the one before by GROWTH_SECONDS
  const GROWTH_SECONDS = 0.25;
  const element = document.getElementById("own-delay");
  const state = { socket: null, best: null, recent: [] };

  function start(socket) {
    state.socket = socket;
    state.best = null;
    for (let i = 0; i < PINGS; i++) setTimeout(() => ping(socket), i * PING_GAP_MS);
  }

  function ping(socket) {
    if (socket !== state.socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "clock", t: Date.now() }));
  }

  function onClock(msg) {
    const now = Date.now();
    const roundTrip = now - msg.t;
    if (!(roundTrip >= 0) || typeof msg.server !== "number") return;
    if (!state.best || roundTrip < state.best.roundTrip) {
      state.best = { roundTrip, offset: msg.server - (msg.t + now) / 2 };
    }
  }

  function growing() {
    const last = state.recent.slice(-GROWING);
    return last.length === GROWING && last.every((v, i) => i === 0 || v > last[i - 1] + GROWTH_SECONDS);
  }

  function onFinal(msg) {
    if (!element || typeof msg.heard !== "number" || !state.best) return;
    const serverNow = Date.now() + state.best.offset;
    const seconds = Math.max(0, (serverNow - msg.heard) / 1000);
    state.recent.push(seconds);
    if (state.recent.length > GROWING) state.recent.shift();
    const behind = seconds > WARN_SECONDS || growing();
    element.hidden = false;
    element.dataset.seconds = seconds.toFixed(2);
    element.dataset.level = behind ? "late" : "ok";
    if (typeof msg.sent === "number") element.dataset.network = ((serverNow - msg.sent) / 1000).toFixed(2);
    element.querySelector(".value").textContent = seconds.toFixed(1) + " s";
    element.querySelector(".behind").hidden = !behind;
  }

  return { start, onClock, onFinal };
})();
