// Join card: the Print button (a script file, not an inline handler, which the CSP forbids).
"use strict";
document.getElementById("print").addEventListener("click", () => window.print());
