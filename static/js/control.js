// Control room: the event's finals as they come, corrected from the keyboard, glossary, hold.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const S = config.strings;
  const FATAL_CLOSES = new Set([4001, 4004]);
  const $ = (id) => document.getElementById(id);
  const ui = {
    connection: $("connection"), alert: $("alert"), finals: $("finals"), empty: $("empty"),
    holdForm: $("hold-form"), hold: $("hold"), glossaryForm: $("glossary-form"), heard: $("heard"),
    term: $("term"), terms: $("terms"), glossaryCancel: $("glossary-cancel"),
  };
  const state = {
    socket: null,
    attempt: 0,
    fatal: false,
    items: new Map(), // seq -> {data, el}
    selected: null, // seq
    editing: null, // seq being edited
    follow: true, // keep the newest final selected while nothing else is chosen
  };

  // ---- connection -----------------------------------------------------------------

  function connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws/events/${config.slug}/control/`);
    state.socket = socket;
    socket.onopen = () => {
      state.attempt = 0;
      setConnection("connected");
    };
    socket.onmessage = (event) => onMessage(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (socket !== state.socket) return;
      if (state.fatal || FATAL_CLOSES.has(event.code)) {
        setConnection("closed");
        if (event.code === 4004) showAlert(S.no_event);
        return;
      }
      setConnection("reconnecting");
      const delay = Math.min(15000, 500 * 2 ** state.attempt) * (0.75 + Math.random() * 0.5);
      state.attempt += 1;
      setTimeout(connect, delay);
    };
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  function setConnection(name) {
    ui.connection.textContent = S[name] || name;
    ui.connection.className = "pill pill-" + name;
    ui.connection.dataset.state = name;
  }

  function showAlert(text) {
    ui.alert.textContent = text;
    ui.alert.hidden = !text;
  }

  function onMessage(msg) {
    switch (msg.type) {
      case "final":
      case "revision":
        upsert(msg);
        break;
      case "released":
        msg.seqs.forEach((seq) => released(seq));
        break;
      case "history_end":
        if (state.follow) selectNewest();
        break;
      case "corrected":
        onCorrected(msg);
        break;
      case "releasing":
        break;
      case "hold":
        if (document.activeElement !== ui.hold) ui.hold.value = String(msg.seconds);
        break;
      case "glossary":
        ui.terms.replaceChildren();
        Object.entries(msg.terms).forEach(([term, renderings]) => showTerm(term, renderings));
        break;
      case "glossary_added":
        showTerm(msg.term, msg.translations);
        break;
      case "link":
        showAlert(msg.state === "down" ? S.link_down : "");
        break;
      case "delay": // the caption delay panel (static/js/delay-panel.js)
        if (window.DelayPanel) DelayPanel.render($("delay-panel"), msg);
        break;
      case "pong":
        break;
      case "error":
        onError(msg);
        break;
      default:
        console.warn("unknown message from the server", msg);
    }
  }

  function onError(msg) {
    if (msg.code === "unauthorized") {
      state.fatal = true;
      showAlert(S.unauthorized);
      return;
    }
    if (msg.code === "conflict" && msg.current) return onConflict(msg.current);
    const item = state.editing !== null ? state.items.get(state.editing) : null;
    if (item) {
      item.el.classList.remove("saving");
      showProblem(item, msg.detail);
    } else showAlert(msg.detail);
  }

  // ---- finals ---------------------------------------------------------------------

  function upsert(data) {
    let item = state.items.get(data.seq);
    if (item && data.revision < item.data.revision) return; // an older copy arrived late
    if (!item) {
      item = { data, el: newElement(data.seq) };
      state.items.set(data.seq, item);
      ui.empty.hidden = true;
    }
    item.data = data;
    if (state.editing !== data.seq) render(item);
    if (state.follow && state.editing === null) selectNewest();
  }

  function newElement(seq) {
    const el = document.createElement("article");
    el.className = "final";
    el.dataset.seq = String(seq);
    el.tabIndex = -1;
    el.addEventListener("click", () => {
      if (state.editing === seq) return;
      select(seq);
      if (!window.getSelection().toString()) startEditing(seq);
    });
    const later = [...ui.finals.querySelectorAll(".final")].find((other) => Number(other.dataset.seq) > seq);
    ui.finals.insertBefore(el, later || null);
    return el;
  }

  function render(item) {
    const { data, el } = item;
    const meta = document.createElement("div");
    meta.className = "meta";
    const number = document.createElement("span");
    number.textContent = "#" + data.seq;
    meta.append(number);
    if (data.revision) meta.append(badge(S.revision.replace("%s", data.revision), "revised"));
    if (data.held_until) meta.append(badge(S.held.replace("%s", remaining(data.held_until)), "held"));
    const source = document.createElement("p");
    source.className = "source";
    source.lang = config.sourceLanguage;
    source.textContent = data.text;
    const list = document.createElement("ul");
    list.className = "translations";
    for (const lang of config.targets) {
      const row = document.createElement("li");
      const code = document.createElement("span");
      code.className = "lang";
      code.textContent = lang;
      const text = document.createElement("span");
      text.lang = lang;
      text.textContent = data.translations[lang] || "";
      if (data.stale && data.stale.includes(lang)) {
        row.className = "stale";
        row.title = S.stale;
      }
      row.append(code, " ", text);
      list.append(row);
    }
    el.classList.toggle("held", Boolean(data.held_until));
    el.classList.remove("saving");
    el.replaceChildren(meta, source, list);
  }

  function badge(text, kind) {
    const span = document.createElement("span");
    span.className = "badge " + kind;
    span.textContent = text;
    return span;
  }

  function remaining(until) {
    return Math.max(0, Math.ceil(until - Date.now() / 1000));
  }

  function released(seq) {
    const item = state.items.get(seq);
    if (!item) return;
    item.data = { ...item.data, held_until: null };
    if (state.editing !== seq) render(item);
  }

  setInterval(() => {
    // Hold countdowns.
    for (const item of state.items.values()) {
      if (item.data.held_until && state.editing !== item.data.seq) render(item);
    }
  }, 1000);

  // ---- selection and editing ------------------------------------------------------

  function seqs() {
    return [...state.items.keys()].sort((a, b) => a - b);
  }

  function select(seq) {
    if (state.selected !== null && state.items.has(state.selected)) {
      state.items.get(state.selected).el.classList.remove("selected");
    }
    state.selected = seq;
    const item = state.items.get(seq);
    if (!item) return;
    item.el.classList.add("selected");
    item.el.scrollIntoView({ block: "nearest" });
    const all = seqs();
    state.follow = seq === all[all.length - 1];
  }

  function selectNewest() {
    const all = seqs();
    if (all.length) select(all[all.length - 1]);
  }

  function move(step) {
    const all = seqs();
    if (!all.length) return;
    const index = all.indexOf(state.selected);
    const next = index < 0 ? all.length - 1 : Math.max(0, Math.min(all.length - 1, index + step));
    select(all[next]);
  }

  function startEditing(seq) {
    const item = state.items.get(seq);
    if (!item || state.editing !== null) return;
    state.editing = seq;
    item.base = item.data.revision;
    const box = document.createElement("textarea");
    box.rows = 2;
    box.maxLength = config.maxText;
    box.value = item.data.text;
    box.lang = config.sourceLanguage;
    box.setAttribute("aria-label", "#" + seq);
    box.addEventListener("keydown", (event) => onEditorKey(event, item, box));
    item.el.querySelector(".source").replaceWith(box);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }

  function onEditorKey(event, item, box) {
    if (event.key === "Escape") {
      event.preventDefault();
      stopEditing(item);
    } else if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      save(item, box.value);
    }
    event.stopPropagation(); // the console's own keys do not apply while typing
  }

  function save(item, text) {
    if (!text.trim() || text.trim() === item.data.text && item.base === item.data.revision) {
      return stopEditing(item);
    }
    if (!send({ type: "correct", seq: item.data.seq, base: item.base, text })) return;
    item.el.classList.add("saving");
  }

  function stopEditing(item) {
    state.editing = null;
    render(item);
    select(item.data.seq);
    item.el.focus();
  }

  function onCorrected(msg) {
    const item = state.items.get(msg.seq);
    if (!item || state.editing !== msg.seq) return;
    const box = item.el.querySelector("textarea");
    item.data = { ...item.data, revision: msg.revision, text: box ? box.value.trim() : item.data.text };
    stopEditing(item);
  }

  function onConflict(current) {
    const item = state.items.get(current.seq);
    if (!item) return;
    item.data = current;
    item.base = current.revision; // saving again now overwrites theirs, knowingly
    item.el.classList.remove("saving");
    showProblem(item, S.conflict + " " + current.text);
  }

  function showProblem(item, text) {
    let problem = item.el.querySelector(".problem");
    if (!problem) {
      problem = document.createElement("p");
      problem.className = "problem";
      problem.setAttribute("role", "alert");
      item.el.append(problem);
    }
    problem.textContent = text;
  }

  // ---- glossary and hold ----------------------------------------------------------

  function openGlossary() {
    const selection = window.getSelection().toString().trim();
    if (!selection) return showAlert(S.select_word);
    showAlert("");
    ui.heard.value = selection;
    ui.term.value = selection;
    ui.glossaryForm.querySelectorAll(".rendering").forEach((input) => (input.value = ""));
    ui.term.focus();
    ui.term.select();
  }

  function showTerm(term, renderings) {
    const existing = [...ui.terms.children].find((li) => li.dataset.term === term);
    const li = existing || document.createElement("li");
    li.dataset.term = term;
    const shown = Object.entries(renderings || {}).map(([lang, text]) => `${lang}: ${text}`);
    li.textContent = shown.length ? `${term} (${shown.join(", ")})` : term;
    if (!existing) ui.terms.append(li);
  }

  ui.glossaryForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const translations = {};
    ui.glossaryForm.querySelectorAll(".rendering").forEach((input) => {
      if (input.value.trim()) translations[input.dataset.lang] = input.value.trim();
    });
    if (!ui.term.value.trim()) return;
    if (send({ type: "glossary", term: ui.term.value.trim(), translations })) {
      showAlert(S.glossary_added.replace("%s", ui.term.value.trim()));
      ui.heard.value = ui.term.value = "";
      if (state.selected !== null) state.items.get(state.selected).el.focus();
    }
  });
  ui.glossaryCancel.addEventListener("click", () => {
    ui.heard.value = ui.term.value = "";
    if (state.selected !== null) state.items.get(state.selected).el.focus();
  });

  ui.holdForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const seconds = Math.max(0, Math.min(config.maxHold, Math.round(Number(ui.hold.value) || 0)));
    ui.hold.value = String(seconds);
    send({ type: "hold", seconds });
    document.activeElement.blur(); // the console's keys apply again
  });

  // ---- keys -----------------------------------------------------------------------

  document.addEventListener("keydown", (event) => {
    if (state.editing !== null || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest && event.target.closest("input, textarea, select")) return; // typing
    switch (event.key) {
      case "ArrowUp":
      case "k":
        move(-1);
        break;
      case "ArrowDown":
      case "j":
        move(1);
        break;
      case "End":
        selectNewest();
        break;
      case "Enter":
      case "e":
        if (state.selected !== null) startEditing(state.selected);
        break;
      case "r":
        if (state.selected !== null) send({ type: "release", seq: state.selected });
        break;
      case "g":
        openGlossary();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  setConnection("connecting");
  connect();
})();
