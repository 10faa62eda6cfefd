// Caption delay per language, p50 and p95 of the last minute, for the presenter page and the
// console: DelayPanel.render(section, msg) with the server's "delay" message. Each figure is
// coloured against msg.warn (3 s): green well under, amber near, red over.
"use strict";

window.DelayPanel = (function () {
  const NEAR = 2 / 3; // amber from two thirds of the limit (2 s of 3 s)

  function level(seconds, warn) {
    if (seconds > warn) return "late";
    return seconds >= warn * NEAR ? "near" : "ok";
  }

  function figure(seconds, warn) {
    const cell = document.createElement("td");
    cell.className = "delay-figure delay-" + level(seconds, warn);
    cell.dataset.level = level(seconds, warn);
    cell.dataset.seconds = String(seconds);
    cell.textContent = seconds.toFixed(1) + " s";
    return cell;
  }

  function table(section) {
    let found = section.querySelector("table.delay-table");
    if (found) return found;
    const strings = section.dataset;
    const heading = document.createElement("h2");
    heading.textContent = strings.title || "Caption delay";
    found = document.createElement("table");
    found.className = "delay-table";
    const head = found.createTHead().insertRow();
    for (const text of [strings.language || "Language", "p50", "p95"]) {
      const th = document.createElement("th");
      th.textContent = text;
      head.append(th);
    }
    found.createTBody();
    const empty = document.createElement("p");
    empty.className = "hint delay-empty";
    empty.textContent = strings.empty || "Shown once captions reach listeners.";
    section.append(heading, found, empty);
    return found;
  }

  function render(section, msg) {
    if (!section) return;
    const body = table(section).tBodies[0];
    const rows = Object.entries(msg.languages || {}).map(([language, figures]) => {
      const row = document.createElement("tr");
      row.dataset.lang = language;
      const name = document.createElement("th");
      name.textContent = language;
      row.append(name, figure(figures.p50, msg.warn), figure(figures.p95, msg.warn));
      row.title = `${figures.count} · ${msg.window} s`;
      return row;
    });
    body.replaceChildren(...rows);
    section.querySelector(".delay-empty").hidden = rows.length > 0;
    section.hidden = false;
  }

  return { render, level };
})();
